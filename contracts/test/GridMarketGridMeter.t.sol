// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Vm} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice The grid connection's meter backs the city grid's trades: its import the grid's
///         sales, its export plus the loss allowance on all injected energy its purchases.
contract GridMarketGridMeterTest is Fixture {
    uint256 internal constant DEPOSIT = 10_000_000;
    uint256 internal constant ALICE = 0; // a campus consumer
    uint256 internal constant BOB = 1; // a campus prosumer
    uint256 internal constant GRID = 2; // the city grid; meter 2 is the feeder
    uint16 internal constant LOSS_BP = 250; // 2.5 %

    function setUp() public {
        deployMarket();
        for (uint256 i; i < 3; ++i) {
            fund(who(i), DEPOSIT);
        }
        registerMeter(ALICE, who(ALICE));
        registerMeter(BOB, who(BOB));
        registerGridMeter(GRID, who(GRID), LOSS_BP);
    }

    /// `buyer` bids and `seller` offers `wh` at 100 wei/Wh; returns the trade's reason.
    function trade(uint64 intervalId, uint256 buyer, uint256 seller, uint32 wh) internal returns (uint8) {
        (uint256 lo, uint256 hi) = buyer < seller ? (buyer, seller) : (seller, buyer);
        bytes memory rLo = lo == buyer ? record(lo, intervalId, wh, 100, 0, 0) : record(lo, intervalId, 0, 0, wh, 100);
        bytes memory rHi = hi == buyer ? record(hi, intervalId, wh, 100, 0, 0) : record(hi, intervalId, 0, 0, wh, 100);
        (uint16 b, uint16 s) = lo == buyer ? (0, 1) : (1, 0);
        vm.recordLogs();
        market.settle(intervalId, batch2(rLo, rHi, packTrade(b, s, wh, 100)), noReadings(), bytes32(0));
        bytes memory reasons = reasonsOf(vm.getRecordedLogs());
        return reasons.length == 0 ? 0 : uint8(reasons[0]);
    }

    function test_gridSalesAreBackedByTheFeedersImport() public {
        report(ALICE, 1000, 0);
        report(GRID, 1000, 0); // the campus imported 1 kWh through the feeder
        (,, uint64 imported, uint64 exported) = market.energyOf(who(GRID));
        assertEq(uint256(exported), uint256(1000), "feeder import = grid export");
        assertEq(uint256(imported), uint256(25), "the loss allowance on the imported 1000 Wh");
        assertEq(trade(1, ALICE, GRID, 1000), 0, "grid sells what the feeder imported");
        report(ALICE, 500, 0); // alice draws more, but the feeder saw nothing more
        assertEq(trade(2, ALICE, GRID, 1), market.REJECT_NOT_METERED(), "not one Wh more");
    }

    /// The attack a bench-attested feeder allowed: the grid buys a seller's export that never
    /// left the microgrid (the feeder exported nothing), paying the seller from its wallet.
    function test_gridCannotBuyWhatTheFeederDidNotExport() public {
        report(BOB, 0, 1000);
        report(ALICE, 1000, 0); // alice consumed bob's export on campus
        report(GRID, 0, 0);
        // only the loss allowance on bob's 1000 Wh injected: 25 Wh
        assertEq(trade(1, GRID, BOB, 26), market.REJECT_NOT_METERED(), "grid bought nothing it metered");
        assertEq(market.balanceOf(who(GRID)), DEPOSIT, "grid wallet untouched");
    }

    function test_gridPurchasesIncludeTheLossAllowance() public {
        report(BOB, 0, 1000);
        report(GRID, 0, 980); // 2 % lost on the way to the feeder
        (,, uint64 imported,) = market.energyOf(who(GRID));
        assertEq(uint256(imported), uint256(980 + 25), "feeder export + 2.5 % of the injected 1000 Wh");
        assertEq(trade(1, GRID, BOB, 1000), 0, "the grid buys the seller's metered export");
        report(BOB, 0, 10); // 0.25 Wh more allowance: rounded on the running total
        assertEq(trade(2, GRID, BOB, 6), market.REJECT_NOT_METERED(), "1,006 > 1,005 attested");
        assertEq(trade(3, GRID, BOB, 5), 0, "exactly the attested total");
        report(BOB, 0, 30); // 1,040 Wh injected in all: 26 Wh of allowance, not 25
        assertEq(trade(4, GRID, BOB, 1), 0, "the allowance of the running total");
    }

    /// Readings relayed one by one (submitReading) and the same readings carried by a
    /// settlement credit the grid the same energy.
    function test_lossCreditIsTheSameRelayedOrSettled() public {
        GridMarket.SignedCounters[] memory rs = new GridMarket.SignedCounters[](2);
        rs[0] = next(BOB, 0, 4001);
        rs[1] = next(GRID, 7, 3900);
        market.settle(1, abi.encodePacked(uint16(0)), rs, bytes32(0));
        (,, uint64 settledImport, uint64 settledExport) = market.energyOf(who(GRID));
        report(BOB, 0, 4001);
        report(GRID, 7, 3900);
        (,, uint64 relayedImport, uint64 relayedExport) = market.energyOf(who(GRID));
        assertEq(
            uint256(settledImport),
            uint256(3900) + (uint256(4001) + 7) * LOSS_BP / 10_000,
            "settled: export + allowance"
        );
        assertEq(uint256(relayedImport - settledImport), uint256(settledImport), "relayed: the same again");
        assertEq(
            (uint256(settledExport) << 64) | relayedExport, (uint256(7) << 64) | 14, "grid export: the feeder import"
        );
    }

    function test_gridMeterRegistrationChecks() public {
        address signer = vm.addr(meterKey(7));
        GridMarket.SignedCounters memory c = counters(7, 0, 0, 0, T0);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.GridMeterExists.selector, meterId(GRID)));
        market.registerGridMeter(meterId(7), who(GRID), signer, GridMarket.Attestation.Meter, RATED_W, 0, "", c);
        deployMarket();
        uint16 tooMuch = uint16(market.MAX_LOSS_ALLOWANCE_BP() + 1);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadMeterSpec.selector, meterId(7)));
        market.registerGridMeter(meterId(7), who(GRID), signer, GridMarket.Attestation.Meter, RATED_W, tooMuch, "", c);
        vm.prank(who(ALICE));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotRegistrar.selector, who(ALICE)));
        market.registerGridMeter(meterId(7), who(GRID), signer, GridMarket.Attestation.Meter, RATED_W, 0, "", c);
    }

    /// Against the formula: the grid buys iff within feeder export + allowance x injected,
    /// sells iff within feeder import.
    function testFuzz_gridBackingIsTheFeederReversedPlusTheAllowance(
        uint16 bobExport,
        uint16 feederImport,
        uint16 feederExport,
        uint32 buyWh,
        uint32 sellWh
    ) public {
        bobExport = uint16(bound(bobExport, 0, 9000)); // within the rated 10 kW over the hour
        feederImport = uint16(bound(feederImport, 0, 9000));
        feederExport = uint16(bound(feederExport, 0, 9000));
        buyWh = uint32(bound(buyWh, 1, 10_000));
        sellWh = uint32(bound(sellWh, 1, 9000));
        report(BOB, 0, bobExport);
        report(ALICE, 9000, 0);
        report(GRID, feederImport, feederExport);
        uint256 backedBuy = uint256(feederExport) + (uint256(bobExport) + feederImport) * LOSS_BP / 10_000;
        uint8 bought = trade(1, GRID, BOB, buyWh);
        uint8 boughtWant =
            buyWh > bobExport ? market.REJECT_NOT_METERED() : buyWh > backedBuy ? market.REJECT_NOT_METERED() : 0;
        assertEq(bought, boughtWant, "grid purchase");
        assertEq(trade(2, ALICE, GRID, sellWh), sellWh > feederImport ? market.REJECT_NOT_METERED() : 0, "grid sale");
    }
}
