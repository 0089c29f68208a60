// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Vm} from "./Base.sol";
import {Fixture, FeeToken, NoReturnToken, FalseToken} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";
import {IERC20} from "../src/IERC20.sol";

/// @notice Unit tests: each guarantee, and the attack that would break it.
contract GridMarketTest is Fixture {
    uint256 internal constant DEPOSIT = 1_000_000;
    uint256 internal constant ALICE = 0; // buyer
    uint256 internal constant BOB = 1; // seller
    uint256 internal constant CAROL = 2; // colluder of a dishonest operator

    function setUp() public {
        deployMarket();
        for (uint256 i; i < 3; ++i) {
            fund(who(i), DEPOSIT);
            registerMeter(i, who(i));
        }
    }

    /// @dev alice bids (bidWh at bidLimit), seller offers (offerWh at offerLimit), trades.
    function settleOne(
        uint64 intervalId,
        uint256 seller,
        uint32 bidWh,
        uint32 bidLimit,
        uint32 offerWh,
        uint32 offerLimit,
        bytes memory trades
    ) internal returns (bytes memory reasons) {
        bytes memory b = batch2(
            record(ALICE, intervalId, bidWh, bidLimit, 0, 0),
            record(seller, intervalId, 0, 0, offerWh, offerLimit),
            trades
        );
        vm.recordLogs();
        market.settle(intervalId, b, noReadings(), bytes32(0));
        return reasonsOf(vm.getRecordedLogs());
    }

    function meterBacked() internal {
        report(ALICE, 1000, 0); // alice imported 1 kWh
        report(BOB, 0, 1000); // bob exported 1 kWh
    }

    // ------------------------------------------------------------ settlement

    function test_settlesSignedAndMeteredTrade() public {
        meterBacked();
        bytes memory reasons = settleOne(1, BOB, 100, 300, 100, 200, packTrade(0, 1, 100, 250));
        assertEq(reasons.length, 0, "no trade rejected");
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT - 25_000, "buyer paid");
        assertEq(market.balanceOf(who(BOB)), DEPOSIT + 25_000, "seller paid");
        (uint64 bought,,,) = market.energyOf(who(ALICE));
        (, uint64 sold,, uint64 exported) = market.energyOf(who(BOB));
        assertEq(bought, 100, "bought");
        assertEq((uint256(sold) << 64) | exported, (uint256(100) << 64) | 1000, "sold, attested export");
        assertEq(market.totalBalancesWei(), 3 * DEPOSIT, "balances conserved");
    }

    /// The issue's drain: a batch moving a participant's balance to a colluder whose meter
    /// shows zero export, with no order of the victim. Both defences reject it.
    function test_zeroCounterDrainIsRejected() public {
        report(ALICE, 0, 0);
        report(CAROL, 0, 0); // zero counter change
        // No signed bid of alice: the operator invents the trade.
        bytes memory b = batch2(
            abi.encodePacked(uint32(1), new bytes(81)), record(CAROL, 1, 0, 0, 4000, 1), packTrade(0, 1, 4000, 250)
        );
        vm.recordLogs();
        market.settle(1, b, noReadings(), bytes32(0));
        assertEq(uint8(reasonsOf(vm.getRecordedLogs())[0]), market.REJECT_NO_ORDER(), "no order");
        // Even with alice's real bid, carol's zero export backs nothing.
        report(ALICE, 4000, 0);
        bytes memory reasons = settleOne(2, CAROL, 4000, 250, 4000, 1, packTrade(0, 1, 4000, 250));
        assertEq(uint8(reasons[0]), market.REJECT_NOT_METERED(), "not metered");
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT, "victim untouched");
        assertEq(market.balanceOf(who(CAROL)), DEPOSIT, "colluder got nothing");
    }

    function test_tradeAboveEitherSignedLimitIsRejected() public {
        meterBacked();
        bytes memory trades =
            abi.encodePacked(packTrade(0, 1, 10, 301), packTrade(0, 1, 10, 199), packTrade(0, 1, 10, 300));
        bytes memory reasons = settleOne(1, BOB, 100, 300, 100, 200, trades);
        assertEq(uint8(reasons[0]), market.REJECT_PRICE_OUTSIDE_LIMITS(), "above the bid limit");
        assertEq(uint8(reasons[1]), market.REJECT_PRICE_OUTSIDE_LIMITS(), "below the offer limit");
        assertEq(uint8(reasons[2]), 0, "at the bid limit settles");
    }

    function test_tradeAboveEitherSignedQuantityIsRejected() public {
        meterBacked();
        // bid 100 Wh, offer 60 Wh: 50 settles, the next 20 exceeds the offer's 60.
        bytes memory trades =
            abi.encodePacked(packTrade(0, 1, 50, 250), packTrade(0, 1, 20, 250), packTrade(0, 1, 10, 250));
        bytes memory reasons = settleOne(1, BOB, 100, 300, 60, 200, trades);
        assertEq(uint8(reasons[0]), 0, "first settles");
        assertEq(uint8(reasons[1]), market.REJECT_ABOVE_SIGNED_ENERGY(), "offer's total exceeded");
        assertEq(uint8(reasons[2]), 0, "within both totals");
        reasons = settleOne(2, BOB, 30, 300, 500, 200, packTrade(0, 1, 31, 250));
        assertEq(uint8(reasons[0]), market.REJECT_ABOVE_SIGNED_ENERGY(), "bid's total exceeded");
    }

    function test_cumulativeMeterBackingAcrossIntervals() public {
        meterBacked(); // 1000 Wh each way attested
        settleOne(1, BOB, 800, 300, 800, 200, packTrade(0, 1, 800, 250));
        bytes memory reasons = settleOne(2, BOB, 800, 300, 800, 200, packTrade(0, 1, 201, 250));
        assertEq(uint8(reasons[0]), market.REJECT_NOT_METERED(), "sold beyond the attested export");
        reasons = settleOne(3, BOB, 800, 300, 800, 200, packTrade(0, 1, 200, 250));
        assertEq(reasons.length, 0, "exactly the rest settles");
    }

    function test_orderOfAnotherIntervalOrMarketIsRejected() public {
        meterBacked();
        // Alice's and bob's orders signed for interval 1, replayed in interval 2.
        bytes memory b =
            batch2(record(ALICE, 1, 100, 300, 0, 0), record(BOB, 1, 0, 0, 100, 200), packTrade(0, 1, 10, 250));
        vm.recordLogs();
        market.settle(2, b, noReadings(), bytes32(0));
        assertEq(uint8(reasonsOf(vm.getRecordedLogs())[0]), market.REJECT_NO_ORDER(), "replayed interval");
        GridMarket here = market;
        market = new GridMarket(token, STEP); // orders signed for another market
        bytes memory bid = order(key(ALICE), who(ALICE), 3, 100, 300, 0, 0);
        bytes memory offer = order(key(BOB), who(BOB), 3, 0, 0, 100, 200);
        market = here;
        bytes memory foreign =
            batch2(abi.encodePacked(uint32(1), bid), abi.encodePacked(uint32(2), offer), packTrade(0, 1, 10, 250));
        vm.recordLogs();
        market.settle(3, foreign, noReadings(), bytes32(0));
        assertEq(uint8(reasonsOf(vm.getRecordedLogs())[0]), market.REJECT_NO_ORDER(), "other market");
    }

    /// Bid and offer are signed together: an operator who raises the offer side (or any
    /// field) of a signed order invalidates both sides.
    function test_orderEditedByTheOperatorIsRejected() public {
        meterBacked();
        report(ALICE, 0, 1000); // alice also exported, bob also imported
        report(BOB, 1000, 0);
        bytes memory a = record(ALICE, 1, 100, 300, 50, 200);
        a[15] = bytes1(uint8(a[15]) + 1); // offer energy 50 -> 51 Wh (low byte of the offer Wh)
        bytes memory b = batch2(a, record(BOB, 1, 100, 300, 100, 200), packTrade(1, 0, 10, 250));
        vm.recordLogs();
        market.settle(1, b, noReadings(), bytes32(0));
        assertEq(uint8(reasonsOf(vm.getRecordedLogs())[0]), market.REJECT_NO_ORDER(), "edited order");
        b = batch2(record(ALICE, 2, 100, 300, 50, 200), record(BOB, 2, 100, 300, 100, 200), packTrade(1, 0, 10, 250));
        vm.recordLogs();
        market.settle(2, b, noReadings(), bytes32(0));
        assertEq(reasonsOf(vm.getRecordedLogs()).length, 0, "the order as signed settles");
    }

    /// The batch limits: one participant or one trade past them is refused before any
    /// record is read (so the largest accepted batch is the one the gas test measures).
    function test_batchPastItsLimitsIsRefused() public {
        uint256 k = market.MAX_BATCH_PARTICIPANTS();
        uint256 n = market.MAX_BATCH_TRADES();
        bytes memory records = new bytes(market.RECORD_BYTES() * (k + 1));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BatchTooLarge.selector, k + 1, uint256(0)));
        market.settle(1, abi.encodePacked(uint16(k + 1), records), noReadings(), bytes32(0));
        bytes memory trades = new bytes(12 * (n + 1));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BatchTooLarge.selector, uint256(0), n + 1));
        market.settle(1, abi.encodePacked(uint16(0), trades), noReadings(), bytes32(0));
    }

    /// The journal digest given to settle is committed in IntervalSettled; commitJournal
    /// commits the last one, only for a settled interval and only by the settler.
    function test_journalDigestIsCommittedWithTheSettlement() public {
        bytes32 digest = keccak256("journal through interval 0");
        vm.recordLogs();
        market.settle(1, abi.encodePacked(uint16(0)), noReadings(), digest);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = keccak256("IntervalSettled(uint64,bytes32,uint256,uint256,uint256,uint256,bytes32)");
        assertEq(logs[logs.length - 1].topics[0], topic, "IntervalSettled");
        (,,,,, bytes32 committed) =
            abi.decode(logs[logs.length - 1].data, (bytes32, uint256, uint256, uint256, uint256, bytes32));
        assertEq(committed, digest, "digest in the event");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.InvalidInterval.selector, uint64(2), uint64(1), STEP));
        market.commitJournal(2, digest);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotSettler.selector, who(BOB)));
        vm.prank(who(BOB));
        market.commitJournal(1, digest);
        vm.recordLogs();
        market.commitJournal(1, bytes32(uint256(digest) + 1));
        logs = vm.getRecordedLogs();
        assertEq(logs[0].topics[0], keccak256("JournalCommitted(uint64,bytes32)"), "JournalCommitted");
        assertEq(abi.decode(logs[0].data, (bytes32)), bytes32(uint256(digest) + 1), "last digest");
    }

    function test_selfTradeAndUnpayableTradeAreRejected() public {
        report(ALICE, 5000, 1000);
        report(BOB, 0, 5000);
        bytes memory trades =
            abi.encodePacked(packTrade(0, 0, 1, 1), packTrade(0, 1, 1001, 1000), packTrade(0, 1, 999, 1000));
        bytes memory b = batch2(record(ALICE, 1, 5000, 1000, 100, 1), record(BOB, 1, 0, 0, 5000, 1), trades);
        vm.recordLogs();
        market.settle(1, b, noReadings(), bytes32(0));
        bytes memory reasons = reasonsOf(vm.getRecordedLogs());
        assertEq(uint8(reasons[0]), market.REJECT_SELF_TRADE(), "self trade");
        assertEq(uint8(reasons[1]), market.REJECT_INSUFFICIENT_BALANCE(), "1,001,000 > 1,000,000");
        assertEq(uint8(reasons[2]), 0, "payable");
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT - 999_000, "paid");
    }

    function test_intervalIdsAdvanceByAtMostTheStep() public {
        meterBacked();
        vm.expectRevert(abi.encodeWithSelector(GridMarket.InvalidInterval.selector, uint64(5), uint64(0), STEP));
        market.settle(5, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
        market.settle(4, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
        market.settle(2, abi.encodePacked(uint16(0)), noReadings(), bytes32(0)); // a late interval still settles
        market.settle(8, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.IntervalAlreadySettled.selector, uint64(8)));
        market.settle(8, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
    }

    // --------------------------------------------------------------- readings

    /// The issue's griefing: a reading copied out of a pending settle and submitted first.
    function test_relayedReadingDoesNotFailTheInterval() public {
        report(ALICE, 1000, 0);
        GridMarket.SignedCounters memory r = next(BOB, 0, 1000);
        vm.prank(who(CAROL));
        market.submitReading(r); // the griefer relays it first
        bytes memory b =
            batch2(record(ALICE, 1, 100, 300, 0, 0), record(BOB, 1, 0, 0, 100, 200), packTrade(0, 1, 100, 250));
        vm.recordLogs();
        market.settle(1, b, one(r), bytes32(0));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(reasonsOf(logs).length, 0, "the trade settles");
        assertEq(logs.length, 1, "no ReadingRejected: IntervalSettled only");
        market.submitReading(r); // and again: idempotent
    }

    function test_newerRelayedReadingDoesNotFailTheInterval() public {
        report(ALICE, 1000, 0);
        GridMarket.SignedCounters memory older = next(BOB, 0, 500);
        market.submitReading(next(BOB, 0, 500)); // a newer one lands first
        bytes memory b =
            batch2(record(ALICE, 1, 900, 300, 0, 0), record(BOB, 1, 0, 0, 900, 200), packTrade(0, 1, 900, 250));
        vm.recordLogs();
        market.settle(1, b, one(older), bytes32(0));
        assertEq(reasonsOf(vm.getRecordedLogs()).length, 0, "backed by the newer reading");
    }

    function test_absurdCounterIsRejectedAndTheMeterKeepsWorking() public {
        MeterClock storage c = clocks[BOB];
        GridMarket.SignedCounters memory huge = counters(BOB, c.seq + 1, 0, 2 ** 48 - 1, c.timeS + 3600);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.CounterTooFast.selector, meterId(BOB), RATED_W));
        market.submitReading(huge);
        report(BOB, 0, 10_000); // 10 kW for one hour: the rated power, accepted
        (,,, uint64 exported) = market.energyOf(who(BOB));
        assertEq(exported, 10_000, "later real readings still count");
        GridMarket.SignedCounters memory tooFast = next(BOB, 0, 10_002);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.CounterTooFast.selector, meterId(BOB), RATED_W));
        market.submitReading(tooFast);
    }

    function test_readingChecks() public {
        GridMarket.SignedCounters memory r = next(BOB, 0, 10);
        GridMarket.SignedCounters memory forged = signedCounters(0xBAD, meterId(BOB), r.seq, 0, 10, r.timeS);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(BOB)));
        market.submitReading(forged);
        GridMarket.SignedCounters memory highS = counters(BOB, r.seq, 0, 10, r.timeS);
        highS.s = bytes32(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - uint256(r.s));
        highS.v = r.v == 27 ? 28 : 27;
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(BOB)));
        market.submitReading(highS); // the malleable twin of a valid signature
        market.submitReading(r);
        GridMarket.SignedCounters memory conflicting = counters(BOB, r.seq, 0, 11, r.timeS);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(BOB), r.seq, r.seq));
        market.submitReading(conflicting);
        GridMarket.SignedCounters memory backwards = counters(BOB, r.seq + 1, 0, 9, r.timeS + 10);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.CounterWentBackwards.selector, meterId(BOB)));
        market.submitReading(backwards);
        GridMarket.SignedCounters memory unknown = counters(9, 1, 0, 0, T0);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterNotActive.selector, meterId(9)));
        market.submitReading(unknown);
    }

    function test_registrationChecks() public {
        GridMarket.SignedCounters memory c = counters(7, 0, 0, 0, T0);
        GridMarket.SignedCounters memory bobs = counters(BOB, 0, 0, 0, T0);
        address signer = vm.addr(meterKey(7));
        address wrongSigner = vm.addr(meterKey(8));
        vm.prank(who(ALICE));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotRegistrar.selector, who(ALICE)));
        market.registerMeter(meterId(7), who(ALICE), signer, GridMarket.Attestation.Bench, RATED_W, "", c);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(7)));
        market.registerMeter(meterId(7), who(ALICE), wrongSigner, GridMarket.Attestation.Bench, RATED_W, "", c);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadMeterSpec.selector, meterId(7)));
        market.registerMeter(meterId(7), who(ALICE), signer, GridMarket.Attestation.Bench, 0, "", c);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterExists.selector, meterId(BOB)));
        market.registerMeter(meterId(BOB), who(ALICE), signer, GridMarket.Attestation.Meter, 1, "", bobs);
        market.registerMeter(meterId(7), who(ALICE), signer, GridMarket.Attestation.Bench, RATED_W, "roof", c);
        (,,,, GridMarket.Attestation kind,,,,) = market.meters(meterId(7));
        assertTrue(kind == GridMarket.Attestation.Bench, "attested by bench");
        assertEq(market.meterOwner(meterId(7)), who(ALICE), "owner");
    }

    // --------------------------------------------------------------- sessions

    function openOn(uint256 meter, uint256 capWei) internal returns (uint256) {
        vm.prank(who(meter));
        market.setTariff(meterId(meter), 100);
        GridMarket.SignedCounters memory now_ = next(meter, 0, 0);
        vm.prank(who(ALICE));
        return market.openSession(meterId(meter), capWei, 100, 1 days, now_);
    }

    /// The issue's stale start: energy before the session must not be billed.
    function test_sessionStartsAtTheOpeningReading() public {
        report(BOB, 5000, 0); // recorded
        MeterClock storage c = clocks[BOB];
        c.importWh += 4000; // 4 kWh more flowed before the session (not recorded)
        uint256 sid = openOn(BOB, 500_000); // the opening reading carries it
        GridMarket.SignedCounters memory end_ = next(BOB, 10, 0);
        vm.prank(who(ALICE));
        market.closeSession(sid, end_);
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT - 10 * 100, "10 Wh billed, not 4,010");
    }

    function test_openingWithAnOlderReadingIsRefused() public {
        GridMarket.SignedCounters memory old = next(BOB, 0, 0);
        report(BOB, 100, 0);
        vm.prank(who(BOB));
        market.setTariff(meterId(BOB), 100);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(BOB), old.seq, old.seq + 1));
        vm.prank(who(ALICE));
        market.openSession(meterId(BOB), 1000, 100, 1 days, old);
    }

    /// The issue's early close: the consumer closes with an old reading after a newer one.
    function test_closeWithAnEarlierReadingIsRefused() public {
        uint256 sid = openOn(BOB, 500_000);
        GridMarket.SignedCounters memory early = next(BOB, 10, 0);
        report(BOB, 990, 0); // the owner records the real end: 1,000 Wh
        vm.expectRevert(
            abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(BOB), early.seq, early.seq + 1)
        );
        vm.prank(who(ALICE));
        market.closeSession(sid, early);
        MeterClock memory c = clocks[BOB];
        vm.prank(who(BOB));
        market.closeSession(sid, counters(BOB, c.seq, c.importWh, c.exportWh, c.timeS)); // the newest, again
        assertEq(market.balanceOf(who(BOB)), DEPOSIT + 1000 * 100, "1,000 Wh billed");
    }

    /// The issue's locked escrow: a session nobody closes.
    function test_expiredSessionIsClosedByAnyoneAtTheLastCounter() public {
        uint256 sid = openOn(BOB, 500_000);
        report(BOB, 300, 0);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.SessionNotExpired.selector, sid, block.timestamp + 1 days));
        market.closeExpiredSession(sid);
        vm.warp(block.timestamp + 1 days);
        vm.prank(address(0xDEAD)); // a stranger
        market.closeExpiredSession(sid);
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT - 30_000, "billed 300 Wh, rest refunded");
        assertEq(market.totalSessionDepositsWei(), 0, "escrow released");
    }

    function test_meterWithAnExpiredSessionCanBeRetired() public {
        uint256 sid = openOn(BOB, 500_000);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterBusy.selector, meterId(BOB), sid));
        market.retireMeter(meterId(BOB));
        vm.warp(block.timestamp + 1 days);
        market.retireMeter(meterId(BOB));
        (,,, GridMarket.MeterStatus status,,,,,) = market.meters(meterId(BOB));
        assertTrue(status == GridMarket.MeterStatus.Retired, "retired");
        assertEq(market.balanceOf(who(ALICE)), DEPOSIT, "0 Wh billed, all refunded");
    }

    function test_sessionGuards() public {
        vm.prank(who(BOB));
        market.setTariff(meterId(BOB), 100);
        GridMarket.SignedCounters memory now_ = next(BOB, 0, 0);
        vm.startPrank(who(ALICE));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSessionDuration.selector, uint256(31 days)));
        market.openSession(meterId(BOB), 1000, 100, 31 days, now_);
        vm.expectRevert(
            abi.encodeWithSelector(GridMarket.TariffAboveLimit.selector, meterId(BOB), uint32(100), uint32(99))
        );
        market.openSession(meterId(BOB), 1000, 99, 1 days, now_);
        uint256 sid = market.openSession(meterId(BOB), 1000, 100, 1 days, now_);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotSessionParty.selector, sid, who(CAROL)));
        vm.prank(who(CAROL));
        market.closeSession(sid, now_);
    }

    // ------------------------------------------------------ tokens and roles

    function test_feeOnTransferTokenCreditsWhatArrived() public {
        FeeToken fee = new FeeToken();
        GridMarket m = new GridMarket(IERC20(address(fee)), STEP);
        fee.mint(who(ALICE), 10_000);
        vm.startPrank(who(ALICE));
        fee.approve(address(m), 10_000);
        m.deposit(10_000);
        assertEq(m.balanceOf(who(ALICE)), 9_900, "credited what arrived");
        m.withdraw(9_900);
        vm.stopPrank();
        assertEq(fee.balanceOf(address(m)), 0, "solvent: nothing owed, nothing held");
    }

    function test_noReturnTokenDepositsAndWithdraws() public {
        NoReturnToken bare = new NoReturnToken();
        GridMarket m = new GridMarket(IERC20(address(bare)), STEP);
        bare.mint(who(ALICE), 5_000);
        vm.startPrank(who(ALICE));
        bare.approve(address(m), 5_000);
        m.deposit(5_000);
        m.withdraw(2_000);
        vm.stopPrank();
        assertEq(bare.balanceOf(who(ALICE)), 2_000, "withdrawn");
        assertEq(m.balanceOf(who(ALICE)), 3_000, "balance");
    }

    function test_falseReturningTokenIsRefused() public {
        GridMarket m = new GridMarket(IERC20(address(new FalseToken())), STEP);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.TransferFailed.selector));
        m.deposit(1);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotAToken.selector, address(0xBEEF)));
        new GridMarket(IERC20(address(0xBEEF)), STEP);
    }

    function test_recoverSurplusSendsOnlyTheStrayTransfer() public {
        openOn(BOB, 100_000);
        token.mint(address(this), 777);
        token.transfer(address(market), 777); // a stray direct transfer
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, who(ALICE)));
        vm.prank(who(ALICE));
        market.recoverSurplus(who(ALICE));
        assertEq(market.recoverSurplus(address(0xCAFE)), 777, "only the surplus");
        assertEq(
            token.balanceOf(address(market)), market.totalBalancesWei() + market.totalSessionDepositsWei(), "equality"
        );
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAmount.selector));
        market.recoverSurplus(address(0xCAFE));
    }

    function test_operatorHandoverTakesTwoSteps() public {
        market.transferOperator(who(CAROL));
        assertEq(market.operator(), address(this), "not yet");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotPendingOperator.selector, who(BOB)));
        vm.prank(who(BOB));
        market.acceptOperator();
        vm.prank(who(CAROL));
        market.acceptOperator();
        assertEq(market.operator(), who(CAROL), "handed over");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, address(this)));
        market.setSettler(who(BOB));
    }

    function test_settlerAndRegistrarAreSeparateRoles() public {
        market.setSettler(who(BOB));
        market.setRegistrar(who(CAROL));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotSettler.selector, address(this)));
        market.settle(1, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
        vm.prank(who(BOB));
        market.settle(1, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotRegistrar.selector, who(BOB)));
        vm.prank(who(BOB));
        market.retireMeter(meterId(ALICE));
        vm.prank(who(CAROL));
        market.retireMeter(meterId(ALICE));
        // the registrar does not settle either
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotSettler.selector, who(CAROL)));
        vm.prank(who(CAROL));
        market.settle(2, abi.encodePacked(uint16(0)), noReadings(), bytes32(0));
    }

    function test_handOverAndTariffAreTheOwners() public {
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotMeterOwner.selector, meterId(BOB), who(ALICE)));
        vm.prank(who(ALICE));
        market.handOverMeter(meterId(BOB), who(ALICE));
        vm.prank(who(BOB));
        market.handOverMeter(meterId(BOB), who(CAROL));
        report(BOB, 0, 700);
        (,,, uint64 carolExport) = market.energyOf(who(CAROL));
        assertEq(carolExport, 700, "export after the handover is the new owner's");
    }
}
