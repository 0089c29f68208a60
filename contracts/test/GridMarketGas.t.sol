// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice The benchmark shape on the EVM: 1,000 trades among 50 participants, each with a
///         signed bid and offer and a fresh meter reading verified in the same settle.
///         Measured inside one test transaction (storage already warm); `forge test
///         --isolate --gas-report` and `gridbench chain bench` give the per-transaction
///         figure (cold storage, calldata, intrinsic gas).
contract GridMarketGasTest is Fixture {
    uint256 internal constant PARTICIPANTS = 50;
    uint256 internal constant TRADES = 1000;
    uint256 internal constant GAS_PER_TRADE_TARGET = 3000;
    bytes32 internal constant JOURNAL = keccak256("journal head");

    function setUp() public {
        deployMarket();
        for (uint256 i; i < PARTICIPANTS; ++i) {
            fund(who(i), 1e12);
            registerMeter(i, who(i));
        }
    }

    function batch(uint64 intervalId) internal view returns (bytes memory b) {
        b = abi.encodePacked(uint16(PARTICIPANTS));
        for (uint256 i; i < PARTICIPANTS; ++i) {
            b = abi.encodePacked(b, record(i, intervalId, 100_000, 400, 100_000, 100));
        }
        bytes memory trades = new bytes(12 * TRADES);
        for (uint256 t; t < TRADES; ++t) {
            uint256 buyer = (t * 7) % PARTICIPANTS;
            uint256 seller = (buyer + 1 + t % (PARTICIPANTS - 1)) % PARTICIPANTS;
            uint256 word = (buyer << 240) | (seller << 224) | ((1 + t % 500) << 192) | ((200 + t % 100) << 160);
            assembly {
                let p := add(add(trades, 32), mul(t, 12))
                mstore(p, or(and(mload(p), sub(shl(160, 1), 1)), word))
            }
        }
        b = abi.encodePacked(b, trades);
    }

    function readings() internal returns (GridMarket.SignedCounters[] memory rs) {
        rs = new GridMarket.SignedCounters[](PARTICIPANTS);
        for (uint256 i; i < PARTICIPANTS; ++i) {
            rs[i] = next(i, 9_000, 9_000);
        }
    }

    /// Interval 2 of a running market: interval 1 first stored each participant's energy
    /// word (a one-time 20,000-gas zero-to-nonzero write per participant).
    function test_settle1000TradesWithinGasTarget() public {
        market.settle(1, batch(1), readings(), bytes32(0));
        bytes memory b = batch(2);
        GridMarket.SignedCounters[] memory rs = readings();
        vm.recordLogs();
        uint256 before = gasleft();
        market.settle(2, b, rs, JOURNAL);
        uint256 used = before - gasleft();
        assertEq(vm.getRecordedLogs().length, 1, "IntervalSettled only: no trade or reading rejected");
        assertTrue(used <= GAS_PER_TRADE_TARGET * TRADES, "gas per trade above target");
        assertEq(market.batchHash(2), keccak256(b), "commitment");
    }
}
