// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice Fuzz tests against oracles written apart from the contract's formulation.
contract GridMarketFuzzTest is Fixture {
    uint256 internal constant DEPOSIT = 10 ** 12;

    function setUp() public {
        deployMarket();
        for (uint256 i; i < 2; ++i) {
            fund(who(i), DEPOSIT);
            registerMeter(i, who(i));
        }
    }

    /// A trade settles exactly when the plain-language rule says so: price between the
    /// offer's and the bid's limits, energy within both signed quantities and within the
    /// buyer's attested import and the seller's attested export, and payable.
    function testFuzz_tradeSettlesExactlyWhenCovered(
        uint32 wh,
        uint32 price,
        uint32 bidWh,
        uint32 bidLimit,
        uint32 offerWh,
        uint32 offerLimit,
        uint16 importWh,
        uint16 exportWh
    ) public {
        wh = uint32(bound(wh, 1, 12_000));
        price = uint32(bound(price, 0, 2_000));
        bidWh = uint32(bound(bidWh, 1, 12_000));
        offerWh = uint32(bound(offerWh, 1, 12_000));
        bidLimit = uint32(bound(bidLimit, 0, 2_000));
        offerLimit = uint32(bound(offerLimit, 0, 2_000));
        importWh = uint16(bound(importWh, 0, 10_000)); // at most the rated 10 kW for 1 h
        exportWh = uint16(bound(exportWh, 0, 10_000));
        report(0, importWh, 0);
        report(1, 0, exportWh);
        bytes memory b = batch2(
            record(0, 1, bidWh, bidLimit, 0, 0), record(1, 1, 0, 0, offerWh, offerLimit), packTrade(0, 1, wh, price)
        );
        vm.recordLogs();
        market.settle(1, b, noReadings(), bytes32(0));
        bool settled = reasonsOf(vm.getRecordedLogs()).length == 0;
        bool covered = offerLimit <= price && price <= bidLimit && wh <= bidWh && wh <= offerWh && wh <= importWh
            && wh <= exportWh && uint256(wh) * price <= DEPOSIT;
        assertTrue(settled == covered, "settles iff covered");
        uint256 paid = settled ? uint256(wh) * price : 0;
        assertEq(market.balanceOf(who(0)), DEPOSIT - paid, "buyer balance");
        assertEq(market.balanceOf(who(1)), DEPOSIT + paid, "seller balance");
    }

    /// A counter rise is accepted iff the meter could have metered it at its rated power:
    /// with real energy E <= P * dt / 3600 Wh, whole-Wh counters rise by at most ceil(E)
    /// and by less than E + 1 (here in integer form: d = 0, or d - 1 < P * dt / 3600).
    function testFuzz_counterRiseBoundedByRatedPower(uint64 dWh, uint32 dtS) public {
        dWh = uint64(bound(dWh, 0, 2 ** 50));
        dtS = uint32(bound(dtS, 0, 30 days));
        MeterClock storage c = clocks[1];
        uint64 t = c.timeS + dtS;
        c.timeS = t;
        c.seq += 1;
        GridMarket.SignedCounters memory r = counters(1, c.seq, 0, dWh, t);
        uint256 allowedWs = uint256(RATED_W) * dtS;
        bool possible = dWh == 0 || (uint256(dWh) - 1) * 3600 < allowedWs;
        bool ok;
        try market.submitReading(r) {
            ok = true;
        } catch {
            ok = false;
        }
        assertTrue(ok == possible, "accepted iff physically possible");
    }
}
