// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice Drives the market with random deposits, withdrawals, settlements, sessions,
///         readings and unauthorised calls, keeping ghost records for the invariants.
contract Handler is Fixture {
    uint256 internal constant ACTORS = 4;

    uint64 public clock; // last interval id used by a settlement or a reading
    uint64[] public settledIds;
    mapping(uint64 => bool) public ghostSettled;
    uint256 public ghostSettleCount;
    uint256 public doubleSettlements; // must stay 0
    uint256 public unauthorisedSuccesses; // must stay 0
    uint256[] public openSessions;
    mapping(uint256 => uint64) internal counter;

    constructor() {
        deployMarket(true);
        for (uint256 i; i < ACTORS; ++i) {
            registerMeter(i, actor(i));
            vm.prank(actor(i));
            market.join();
            vm.prank(actor(i));
            market.setTariff(meterId(i), uint32(100 + i));
        }
    }

    function actor(uint256 i) public pure returns (address) {
        return address(uint160(0xAC7000 + (i % ACTORS)));
    }

    function actors() external pure returns (uint256) {
        return ACTORS;
    }

    function deposit(uint256 who, uint256 amount) external {
        amount = bound(amount, 1, 1e12);
        token.mint(actor(who), amount);
        vm.startPrank(actor(who));
        token.approve(address(market), amount);
        market.deposit(amount);
        vm.stopPrank();
    }

    function withdraw(uint256 who, uint256 amount) external {
        uint256 balance = market.balanceOf(actor(who));
        if (balance == 0) return;
        vm.prank(actor(who));
        market.withdraw(bound(amount, 1, balance));
    }

    function settle(uint256 seed, uint8 nTrades, uint8 readingMask) external {
        clock += uint64(bound(seed, 1, 3));
        uint32[] memory indices = new uint32[](ACTORS);
        GridMarket.SignedReading[] memory readings = new GridMarket.SignedReading[](ACTORS);
        for (uint256 i; i < ACTORS; ++i) {
            indices[i] = market.participantIndex(actor(i));
            if (readingMask & (1 << i) != 0) {
                counter[i] += uint64(seed % 50);
                readings[i] = reading(i, clock, counter[i]);
            }
        }
        bytes memory batch = packParticipants(indices);
        for (uint256 t; t < nTrades % 40; ++t) {
            uint256 r = uint256(keccak256(abi.encode(seed, t)));
            batch = abi.encodePacked(
                batch, packTrade(uint16(r % ACTORS), uint16((r >> 8) % ACTORS), uint32(r >> 16) % 5000, 250)
            );
        }
        market.settle(clock, batch, readings);
        ghostSettled[clock] = true;
        settledIds.push(clock);
        ++ghostSettleCount;
    }

    /// Settling an interval again must revert; a success is recorded as a violation.
    function settleAgain(uint256 which) external {
        if (settledIds.length == 0) return;
        uint64 id = settledIds[which % settledIds.length];
        try market.settle(id, hex"0000", noReadings()) {
            ++doubleSettlements;
        } catch {}
    }

    /// Operator-only calls from a participant must revert.
    function intrude(uint256 who, uint8 what) external {
        vm.startPrank(actor(who));
        bool ok;
        if (what % 4 == 0) {
            try market.settle(clock + 1, hex"0000", noReadings()) {
                ok = true;
            } catch {}
        } else if (what % 4 == 1) {
            try market.registerMeter(keccak256(abi.encode(what)), actor(who), actor(who), "") {
                ok = true;
            } catch {}
        } else if (what % 4 == 2) {
            try market.retireMeter(meterId(who % ACTORS)) {
                ok = true;
            } catch {}
        } else {
            try market.setOperator(actor(who)) {
                ok = true;
            } catch {}
        }
        vm.stopPrank();
        if (ok) ++unauthorisedSuccesses;
    }

    function openSession(uint256 who, uint256 meter, uint256 cap) external {
        uint256 m = meter % ACTORS;
        uint256 balance = market.balanceOf(actor(who));
        if (balance == 0 || market.activeSession(meterId(m)) != 0) return;
        vm.prank(actor(who));
        openSessions.push(market.openSession(meterId(m), bound(cap, 1, balance), type(uint32).max));
    }

    function closeSession(uint256 which, uint16 usedWh) external {
        if (openSessions.length == 0) return;
        uint256 k = which % openSessions.length;
        uint256 id = openSessions[k];
        (,, bytes32 id32,,,) = market.sessions(id);
        uint256 m = uint256(uint16(bytes2(id32))) - 0x6d00;
        counter[m] += usedWh;
        GridMarket.SignedReading memory r = reading(m, ++clock, counter[m]);
        market.closeSession(id, r);
        openSessions[k] = openSessions[openSessions.length - 1];
        openSessions.pop();
    }

    function openSessionCount() external view returns (uint256) {
        return openSessions.length;
    }

    function openSessionDeposits() external view returns (uint256 sum) {
        for (uint256 i; i < openSessions.length; ++i) {
            (, uint96 depositWei,,,,) = market.sessions(openSessions[i]);
            sum += depositWei;
        }
    }

    function marketAddress() external view returns (GridMarket) {
        return market;
    }

    function tokenBalanceOfMarket() external view returns (uint256) {
        return token.balanceOf(address(market));
    }
}

/// @notice Invariants: conservation, at-most-once settlement, access control.
contract GridMarketInvariantTest is Fixture {
    Handler internal handler;

    function setUp() public {
        handler = new Handler();
        market = handler.marketAddress();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Token held by the market == sum of prepaid balances + open session deposits.
    function invariant_conservation() public view {
        uint256 sum;
        for (uint256 i; i < handler.actors(); ++i) {
            sum += market.balanceOf(handler.actor(i));
        }
        assertEq(market.participantCount(), handler.actors(), "no one else joined");
        assertEq(market.totalSessionDepositsWei(), handler.openSessionDeposits(), "session escrow");
        assertEq(handler.tokenBalanceOfMarket(), sum + market.totalSessionDepositsWei(), "conservation");
    }

    /// Every interval id settles at most once, and every successful settle is counted.
    function invariant_atMostOncePerInterval() public view {
        assertEq(handler.doubleSettlements(), 0, "an interval settled twice");
        assertEq(market.settledIntervalCount(), handler.ghostSettleCount(), "settle count");
    }

    /// Operator-only functions never succeed for anyone else; the operator never changes.
    function invariant_accessControl() public view {
        assertEq(handler.unauthorisedSuccesses(), 0, "unauthorised call succeeded");
        assertEq(market.operator(), address(handler), "operator");
    }
}
