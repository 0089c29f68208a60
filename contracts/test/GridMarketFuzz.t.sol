// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Vm} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice Property tests: settlement against a reference model, readings, sessions.
contract GridMarketFuzzTest is Fixture {
    uint256 internal constant N = 4;

    function actor(uint256 i) internal pure returns (address) {
        return address(uint160(0xAC7000 + i));
    }

    function setUp() public {
        deployMarket(false);
    }

    /// Settling random trades matches a sequential model (pay if you can, else reject)
    /// and never creates or destroys a wei.
    function testFuzz_settleMatchesModel(uint256 seed, uint8 nTrades, uint64[N] memory deposits) public {
        uint256[] memory model = new uint256[](N);
        uint256 total;
        for (uint256 i; i < N; ++i) {
            model[i] = bound(deposits[i], 1, 1e12);
            total += model[i];
            fund(actor(i), model[i]);
        }
        uint32[] memory indices = new uint32[](N);
        for (uint256 i; i < N; ++i) {
            indices[i] = uint32(i + 1);
        }
        bytes memory batch = packParticipants(indices);
        uint256 n = bound(nTrades, 0, 120);
        uint256 rejected;
        bytes memory expected = new bytes(n);
        for (uint256 t; t < n; ++t) {
            uint256 r = uint256(keccak256(abi.encode(seed, t)));
            uint16 b = uint16(r % N);
            uint16 s = uint16((r >> 8) % N);
            uint32 e = uint32((r >> 16) % 100_000);
            uint32 p = uint32((r >> 48) % 1000);
            batch = abi.encodePacked(batch, packTrade(b, s, e, p));
            uint256 value = uint256(e) * p;
            if (b == s || model[b] < value) {
                expected[t] = b == s ? bytes1(0x03) : bytes1(0x01);
                ++rejected;
            } else {
                model[b] -= value;
                model[s] += value;
            }
        }
        vm.recordLogs();
        market.settle(1, batch, noReadings());
        uint256 sum;
        for (uint256 i; i < N; ++i) {
            assertEq(market.balanceOf(actor(i)), model[i], "balance matches model");
            sum += market.balanceOf(actor(i));
        }
        assertEq(sum, total, "conservation");
        assertEq(token.balanceOf(address(market)), total, "holdings");
        bytes memory reasons;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == keccak256("TradesRejected(uint64,bytes)")) {
                reasons = abi.decode(logs[i].data, (bytes));
            }
        }
        assertEq(reasons.length, rejected == 0 ? 0 : n, "one reason per trade");
        if (rejected != 0) assertEq(keccak256(reasons), keccak256(expected), "reasons match model");
    }

    /// Any key can attest; only the registered attestor's signature is accepted.
    function testFuzz_readingSignature(uint256 key, uint256 otherKey, uint64 intervalId, uint64 energyWh) public {
        key = bound(key, 1, 2 ** 200);
        otherKey = bound(otherKey, 1, 2 ** 200);
        vm.assume(key != otherKey);
        intervalId = uint64(bound(intervalId, 1, type(uint48).max));
        energyWh = uint64(bound(energyWh, 0, type(uint48).max));
        market.registerMeter(meterId(1), actor(0), vm.addr(key), "");
        GridMarket.SignedReading memory forged = signedBy(otherKey, meterId(1), intervalId, energyWh);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(1)));
        market.submitReading(forged);
        market.submitReading(signedBy(key, meterId(1), intervalId, energyWh));
        (,,,,, uint48 lastInterval, uint48 lastEnergy) = market.meters(meterId(1));
        assertEq(lastInterval, intervalId, "interval");
        assertEq(lastEnergy, energyWh, "energy");
    }

    /// A session bills min(cap, metered energy x tariff) and refunds the rest of the cap.
    function testFuzz_sessionBill(uint96 cap, uint32 tariff, uint48 startWh, uint48 usedWh) public {
        cap = uint96(bound(cap, 1, 1e15));
        tariff = uint32(bound(tariff, 1, type(uint32).max));
        startWh = uint48(bound(startWh, 0, type(uint48).max / 2));
        usedWh = uint48(bound(usedWh, 0, type(uint48).max / 2));
        fund(actor(0), cap);
        fund(actor(1), 1);
        registerMeter(1, actor(1));
        market.submitReading(reading(1, 1, startWh));
        vm.prank(actor(1));
        market.setTariff(meterId(1), tariff);
        vm.prank(actor(0));
        uint256 id = market.openSession(meterId(1), cap, tariff);
        market.closeSession(id, reading(1, 2, uint64(startWh) + usedWh));
        uint256 cost = uint256(usedWh) * tariff;
        uint256 billed = cost < cap ? cost : cap;
        assertEq(market.balanceOf(actor(1)), 1 + billed, "owner billed");
        assertEq(market.balanceOf(actor(0)), cap - billed, "consumer refunded");
        assertEq(token.balanceOf(address(market)), uint256(cap) + 1, "holdings");
    }

    /// Deposits and withdrawals keep wallet + prepaid balance constant.
    function testFuzz_depositWithdraw(uint96 amount, uint96 out) public {
        amount = uint96(bound(amount, 1, type(uint96).max));
        out = uint96(bound(out, 1, amount));
        fund(actor(0), amount);
        vm.prank(actor(0));
        market.withdraw(out);
        assertEq(market.balanceOf(actor(0)) + token.balanceOf(actor(0)), amount, "conserved");
        assertEq(token.balanceOf(address(market)), amount - out, "holdings");
    }
}
