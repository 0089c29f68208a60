// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Vm} from "./Base.sol";
import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";
import {IERC20} from "../src/IERC20.sol";

/// @notice An ERC-20 that reports failure instead of reverting.
contract FalseToken is IERC20 {
    function balanceOf(address) external pure returns (uint256) {
        return 0;
    }

    function transfer(address, uint256) external pure returns (bool) {
        return false;
    }

    function transferFrom(address, address, uint256) external pure returns (bool) {
        return false;
    }
}

/// @notice Unit tests: every function and every custom error of GridMarket.
contract GridMarketTest is Fixture {
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);

    event Deposited(address indexed wallet, uint256 amountWei, uint256 balanceWei);
    event TradesRejected(uint64 indexed intervalId, bytes reasons);
    event ReadingRejected(bytes32 indexed meterId, uint64 indexed intervalId, uint8 reason);
    event SessionOpened(
        uint256 indexed sessionId,
        bytes32 indexed meterId,
        address indexed consumer,
        uint256 capWei,
        uint32 priceWeiPerWh
    );

    function setUp() public {
        deployMarket(true);
        fund(alice, 1_000_000);
        fund(bob, 500_000);
        registerMeter(1, alice);
        registerMeter(2, bob);
    }

    // ---------------------------------------------------------------- helpers

    function aliceBuysFromBob(uint32 energyWh, uint32 price) internal pure returns (bytes memory) {
        return abi.encodePacked(packParticipants(two(1, 2)), packTrade(0, 1, energyWh, price));
    }

    function bothReadings(uint64 intervalId) internal view returns (GridMarket.SignedReading[] memory rs) {
        rs = new GridMarket.SignedReading[](2);
        rs[0] = reading(1, intervalId, 100 * intervalId);
        rs[1] = reading(2, intervalId, 200 * intervalId);
    }

    // --------------------------------------------------------------- operator

    function test_constructorSetsOperatorAndToken() public view {
        assertEq(market.operator(), address(this), "operator");
        assertEq(address(market.token()), address(token), "token");
        assertTrue(market.requireReadings(), "requireReadings");
    }

    function test_constructorRejectsZeroToken() public {
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAddress.selector));
        new GridMarket(IERC20(address(0)), true);
    }

    function test_setOperator() public {
        market.setOperator(carol);
        assertEq(market.operator(), carol, "new operator");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, address(this)));
        market.setOperator(alice);
    }

    function test_setOperatorRejectsZero() public {
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAddress.selector));
        market.setOperator(address(0));
    }

    // --------------------------------------------------------- prepaid wallets

    function test_depositJoinsAndCredits() public {
        token.mint(carol, 70);
        vm.startPrank(carol);
        token.approve(address(market), 70);
        vm.expectEmit(true, false, false, true);
        emit Deposited(carol, 70, 70);
        market.deposit(70);
        vm.stopPrank();
        assertEq(market.participantIndex(carol), 3, "index");
        assertEq(market.balanceOf(carol), 70, "balance");
        (address wallet, uint256 balance) = market.account(3);
        assertEq(wallet, carol, "account wallet");
        assertEq(balance, 70, "account balance");
        assertEq(token.balanceOf(address(market)), 1_500_070, "holdings");
    }

    function test_joinIsIdempotent() public {
        vm.prank(carol);
        assertEq(market.join(), 3, "first join");
        vm.prank(carol);
        assertEq(market.join(), 3, "second join");
        assertEq(market.participantCount(), 3, "count");
    }

    function test_depositRejectsZero() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAmount.selector));
        market.deposit(0);
    }

    function test_depositRejectsOverflow() public {
        uint256 big = uint256(type(uint96).max);
        token.mint(carol, big + 1);
        vm.startPrank(carol);
        token.approve(address(market), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BalanceOverflow.selector, carol));
        market.deposit(big + 1);
        vm.stopPrank();
    }

    function test_depositRejectsFailedTransfer() public {
        GridMarket bad = new GridMarket(new FalseToken(), false);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.TransferFailed.selector));
        bad.deposit(1);
    }

    function test_withdrawPullsBalance() public {
        vm.prank(bob);
        market.withdraw(200_000);
        assertEq(market.balanceOf(bob), 300_000, "balance");
        assertEq(token.balanceOf(bob), 200_000, "wallet");
    }

    function test_withdrawRejectsZeroStrangerAndOverdraft() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAmount.selector));
        market.withdraw(0);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotParticipant.selector, carol));
        market.withdraw(1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.InsufficientBalance.selector, bob, 500_000, 500_001));
        market.withdraw(500_001);
    }

    function test_balanceOfStrangerIsZero() public view {
        assertEq(market.balanceOf(carol), 0, "stranger");
    }

    // ---------------------------------------------------------- meter registry

    function test_registerMeterStoresEverything() public view {
        (address owner, GridMarket.MeterStatus status, uint32 tariff,, address attestor,,) = market.meters(meterId(1));
        assertEq(owner, alice, "owner");
        assertTrue(status == GridMarket.MeterStatus.Active, "status");
        assertEq(tariff, 0, "tariff");
        assertEq(attestor, vm.addr(attestorKey(1)), "attestor");
        assertEq(keccak256(bytes(market.meterLocation(meterId(1)))), keccak256("lab bench"), "location");
    }

    function test_registerMeterOnlyOperator() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, alice));
        market.registerMeter(meterId(9), alice, alice, "");
    }

    function test_registerMeterRejectsDuplicateAndZero() public {
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterExists.selector, meterId(1)));
        registerMeter(1, bob);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAddress.selector));
        market.registerMeter(meterId(9), address(0), alice, "");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroMeterId.selector));
        market.registerMeter(bytes32(0), alice, alice, "");
    }

    function test_retireMeter() public {
        market.retireMeter(meterId(2));
        (, GridMarket.MeterStatus status,,,,,) = market.meters(meterId(2));
        assertTrue(status == GridMarket.MeterStatus.Retired, "retired");
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterNotActive.selector, meterId(2)));
        market.retireMeter(meterId(2));
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterExists.selector, meterId(2)));
        registerMeter(2, bob);
    }

    function test_retireMeterOnlyOperator() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, alice));
        market.retireMeter(meterId(1));
    }

    function test_handOverMeter() public {
        vm.prank(alice);
        market.handOverMeter(meterId(1), carol);
        (address owner,,,,,,) = market.meters(meterId(1));
        assertEq(owner, carol, "new owner");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotMeterOwner.selector, meterId(1), alice));
        market.handOverMeter(meterId(1), alice);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAddress.selector));
        market.handOverMeter(meterId(1), address(0));
    }

    function test_setTariffOnlyOwnerOfActiveMeter() public {
        vm.prank(alice);
        market.setTariff(meterId(1), 250);
        (,, uint32 tariff,,,,) = market.meters(meterId(1));
        assertEq(tariff, 250, "tariff");
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotMeterOwner.selector, meterId(1), bob));
        market.setTariff(meterId(1), 1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterNotActive.selector, meterId(7)));
        market.setTariff(meterId(7), 1);
    }

    // ---------------------------------------------------------- signed readings

    function test_submitReadingRecordsCounter() public {
        market.submitReading(reading(1, 5, 1234));
        (,,,,, uint48 lastInterval, uint48 lastEnergy) = market.meters(meterId(1));
        assertEq(lastInterval, 5, "interval");
        assertEq(lastEnergy, 1234, "energy");
    }

    function test_submitReadingRejectsReplayAndStale() public {
        GridMarket.SignedReading memory r = reading(1, 5, 1234);
        market.submitReading(r);
        vm.expectRevert(
            abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(1), 5, 1_700_000_000, 5, 1_700_000_000)
        );
        market.submitReading(r);
        r = reading(1, 4, 2000);
        vm.expectRevert(
            abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(1), 4, 1_700_000_000, 5, 1_700_000_000)
        );
        market.submitReading(r);
    }

    function test_readingOfSameIntervalNeedsLaterTimestamp() public {
        market.submitReading(signedAt(attestorKey(1), meterId(1), 5, 100, 1000));
        GridMarket.SignedReading memory same = signedAt(attestorKey(1), meterId(1), 5, 150, 1000);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(1), 5, 1000, 5, 1000));
        market.submitReading(same);
        market.submitReading(signedAt(attestorKey(1), meterId(1), 5, 150, 1001));
        (,,, uint56 lastTimestamp,, uint48 lastInterval, uint48 lastEnergy) = market.meters(meterId(1));
        assertEq(lastTimestamp, 1001, "timestamp");
        assertEq(lastInterval, 5, "interval");
        assertEq(lastEnergy, 150, "energy");
    }

    function test_submitReadingRejectsBadSignature() public {
        GridMarket.SignedReading memory r = signedBy(attestorKey(2), meterId(1), 1, 10);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(1)));
        market.submitReading(r);
        r = reading(1, 1, 10);
        r.energyWh = 11; // tampered after signing
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(1)));
        market.submitReading(r);
        r = reading(1, 1, 10);
        // the other (malleable) signature of the same digest
        r.s = bytes32(0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141 - uint256(r.s));
        r.v = r.v == 27 ? 28 : 27;
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadSignature.selector, meterId(1)));
        market.submitReading(r);
    }

    function test_submitReadingRejectsBackwardsCounter() public {
        market.submitReading(reading(1, 1, 500));
        GridMarket.SignedReading memory r = reading(1, 2, 499);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.CounterWentBackwards.selector, meterId(1), 499, 500));
        market.submitReading(r);
    }

    function test_submitReadingRejectsOutOfRangeAndUnknownMeter() public {
        GridMarket.SignedReading memory r = reading(1, 1, uint64(1) << 48);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ReadingOutOfRange.selector, meterId(1)));
        market.submitReading(r);
        r = signedBy(attestorKey(8), meterId(8), 1, 1);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterNotActive.selector, meterId(8)));
        market.submitReading(r);
    }

    function test_domainSeparatorFollowsChainId() public {
        bytes32 before = market.domainSeparator();
        vm.chainId(4242);
        assertTrue(market.domainSeparator() != before, "fork gets a new domain");
    }

    // ---------------------------------------------------------- supply sessions

    function openAliceOnBobsMeter(uint256 cap) internal returns (uint256 id) {
        vm.prank(bob);
        market.setTariff(meterId(2), 300);
        market.submitReading(reading(2, 1, 1000));
        vm.prank(alice);
        id = market.openSession(meterId(2), cap, 300);
    }

    function test_openSessionEscrowsCap() public {
        vm.prank(bob);
        market.setTariff(meterId(2), 300);
        vm.expectEmit(true, true, true, true);
        emit SessionOpened(1, meterId(2), alice, 90_000, 300);
        vm.prank(alice);
        uint256 id = market.openSession(meterId(2), 90_000, 300);
        assertEq(id, 1, "id");
        assertEq(market.balanceOf(alice), 910_000, "balance");
        assertEq(market.totalSessionDepositsWei(), 90_000, "escrow");
        assertEq(market.activeSession(meterId(2)), 1, "active");
    }

    function test_openSessionErrors() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterNotActive.selector, meterId(9)));
        market.openSession(meterId(9), 1, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NoTariff.selector, meterId(2)));
        market.openSession(meterId(2), 1, 1);
        vm.prank(bob);
        market.setTariff(meterId(2), 300);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.TariffAboveLimit.selector, meterId(2), 300, 299));
        market.openSession(meterId(2), 1, 299);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ZeroAmount.selector));
        market.openSession(meterId(2), 0, 300);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotParticipant.selector, carol));
        market.openSession(meterId(2), 1, 300);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.InsufficientBalance.selector, alice, 1_000_000, 1_000_001));
        market.openSession(meterId(2), 1_000_001, 300);
        vm.prank(alice);
        market.openSession(meterId(2), 10, 300);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterBusy.selector, meterId(2), 1));
        market.openSession(meterId(2), 10, 300);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.MeterBusy.selector, meterId(2), 1));
        market.retireMeter(meterId(2));
    }

    function test_closeSessionBillsMeteredEnergy() public {
        uint256 id = openAliceOnBobsMeter(90_000);
        GridMarket.SignedReading memory r = reading(2, 2, 1100); // 100 Wh at 300 wei/Wh
        vm.prank(alice);
        market.closeSession(id, r);
        assertEq(market.balanceOf(bob), 530_000, "owner paid");
        assertEq(market.balanceOf(alice), 970_000, "consumer refunded");
        assertEq(market.totalSessionDepositsWei(), 0, "escrow released");
        assertEq(market.activeSession(meterId(2)), 0, "meter free");
    }

    function test_closeSessionCapsTheBill() public {
        uint256 id = openAliceOnBobsMeter(9_000);
        market.closeSession(id, reading(2, 2, 2000)); // 1000 Wh would cost 300,000
        assertEq(market.balanceOf(bob), 509_000, "billed the cap");
        assertEq(market.balanceOf(alice), 991_000, "nothing refunded");
    }

    function test_closeSessionPaysUnregisteredOwner() public {
        vm.prank(alice);
        market.handOverMeter(meterId(1), carol);
        vm.prank(carol);
        market.setTariff(meterId(1), 10);
        vm.prank(bob);
        uint256 id = market.openSession(meterId(1), 1000, 10);
        GridMarket.SignedReading memory r = reading(1, 1, 50);
        vm.prank(bob);
        market.closeSession(id, r);
        assertEq(market.balanceOf(carol), 500, "new owner credited");
        assertEq(market.participantIndex(carol), 3, "owner joined");
    }

    function test_closeSessionErrors() public {
        uint256 id = openAliceOnBobsMeter(90_000);
        GridMarket.SignedReading memory fresh = reading(2, 2, 1100);
        GridMarket.SignedReading memory otherMeter = reading(1, 2, 1100);
        GridMarket.SignedReading memory stale = reading(2, 1, 1100);
        GridMarket.SignedReading memory later = reading(2, 3, 1200);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotSessionParty.selector, id, carol));
        market.closeSession(id, fresh);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ReadingForOtherMeter.selector, meterId(2), meterId(1)));
        market.closeSession(id, otherMeter);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(GridMarket.StaleReading.selector, meterId(2), 1, 1_700_000_000, 1, 1_700_000_000)
        );
        market.closeSession(id, stale);
        vm.prank(bob);
        market.closeSession(id, fresh);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.SessionNotOpen.selector, id));
        market.closeSession(id, later);
    }

    // --------------------------------------------------------- batch settlement

    function test_settleMovesValueAndCommitsBatch() public {
        bytes memory batch = aliceBuysFromBob(100, 250);
        market.settle(1, batch, bothReadings(1));
        assertEq(market.balanceOf(alice), 975_000, "buyer paid");
        assertEq(market.balanceOf(bob), 525_000, "seller credited");
        assertEq(market.batchHash(1), keccak256(batch), "commitment");
        assertTrue(market.isSettled(1), "settled");
        assertEq(market.settledIntervalCount(), 1, "count");
        (,,,,, uint48 lastInterval, uint48 lastEnergy) = market.meters(meterId(2));
        assertEq(lastInterval, 1, "reading recorded");
        assertEq(lastEnergy, 200, "counter recorded");
    }

    function test_settleEmitsNoRejectionsWhenAllSettle() public {
        bytes memory batch = aliceBuysFromBob(1, 1);
        GridMarket.SignedReading[] memory rs = bothReadings(1);
        vm.recordLogs();
        market.settle(1, batch, rs);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != TradesRejected.selector, "no TradesRejected");
        }
        assertEq(logs.length, 3, "two readings and IntervalSettled");
    }

    function test_settleOnlyOperator() public {
        bytes memory batch = aliceBuysFromBob(1, 1);
        GridMarket.SignedReading[] memory rs = bothReadings(1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.NotOperator.selector, alice));
        market.settle(1, batch, rs);
    }

    function test_settleAtMostOncePerInterval() public {
        bytes memory batch = aliceBuysFromBob(1, 1);
        market.settle(7, batch, bothReadings(7));
        GridMarket.SignedReading[] memory rs = bothReadings(7);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.IntervalAlreadySettled.selector, 7));
        market.settle(7, batch, rs);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.InvalidInterval.selector));
        market.settle(0, batch, rs);
    }

    function test_settleRejectsUnpayableTradeAndSettlesTheRest() public {
        bytes memory batch = abi.encodePacked(
            packParticipants(two(1, 2)),
            packTrade(1, 0, 1000, 1000), // bob owes 1,000,000 > 500,000
            packTrade(0, 1, 10, 250),
            packTrade(0, 0, 10, 250) // self trade
        );
        vm.expectEmit(true, false, false, true);
        emit TradesRejected(3, hex"010003");
        market.settle(3, batch, bothReadings(3));
        assertEq(market.balanceOf(alice), 997_500, "second trade settled");
        assertEq(market.balanceOf(bob), 502_500, "seller credited once");
    }

    function test_settleUsesCreditsEarnedEarlierInTheBatch() public {
        bytes memory batch =
            abi.encodePacked(packParticipants(two(1, 2)), packTrade(0, 1, 1000, 300), packTrade(1, 0, 1000, 790));
        market.settle(4, batch, bothReadings(4));
        assertEq(market.balanceOf(bob), 10_000, "bob spent what he earned");
        assertEq(market.balanceOf(alice), 1_490_000, "alice");
    }

    function test_settleRejectsTradesWithoutVerifiedReading() public {
        GridMarket.SignedReading[] memory rs = bothReadings(2);
        rs[1] = signedBy(attestorKey(1), meterId(2), 2, 5); // signed by the wrong key
        vm.expectEmit(true, true, false, true);
        emit ReadingRejected(meterId(2), 2, 4);
        vm.expectEmit(true, false, false, true);
        emit TradesRejected(2, hex"02");
        market.settle(2, aliceBuysFromBob(10, 10), rs);
        assertEq(market.balanceOf(alice), 1_000_000, "nothing moved");
        assertTrue(market.isSettled(2), "interval still closed");
    }

    function test_settleRejectsReadingsOfOtherIntervalsOrOwners() public {
        GridMarket.SignedReading[] memory rs = bothReadings(2);
        rs[0] = reading(1, 1, 100); // stale: signed for interval 1
        rs[1] = reading(1, 2, 100); // alice's meter in bob's slot
        vm.expectEmit(true, true, false, true);
        emit ReadingRejected(meterId(1), 2, 3);
        vm.expectEmit(true, true, false, true);
        emit ReadingRejected(meterId(1), 2, 2);
        market.settle(2, aliceBuysFromBob(10, 10), rs);
        assertEq(market.balanceOf(bob), 500_000, "nothing moved");
    }

    function test_settleWithoutRequiredReadingsRejectsAll() public {
        market.settle(2, aliceBuysFromBob(10, 10), noReadings());
        assertEq(market.balanceOf(bob), 500_000, "nothing moved");
    }

    function test_settleWithoutReadingRequirement() public {
        deployMarket(false);
        fund(alice, 1000);
        fund(bob, 1000);
        market.settle(1, aliceBuysFromBob(2, 250), noReadings());
        assertEq(market.balanceOf(bob), 1500, "settled without readings");
    }

    function test_settleMalformedBatches() public {
        GridMarket.SignedReading[] memory none = noReadings();
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadBatchLength.selector, 1));
        market.settle(1, hex"00", none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadBatchLength.selector, 7));
        market.settle(1, abi.encodePacked(uint16(2), uint32(1), uint8(0)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BadBatchLength.selector, 11));
        market.settle(1, abi.encodePacked(packParticipants(two(1, 2)), uint8(1)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ParticipantsNotSorted.selector, 1));
        market.settle(1, packParticipants(two(2, 1)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ParticipantsNotSorted.selector, 0));
        market.settle(1, packParticipants(two(0, 1)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.UnknownParticipant.selector, 3));
        market.settle(1, packParticipants(two(1, 3)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.SlotOutOfRange.selector, 0));
        market.settle(1, abi.encodePacked(packParticipants(two(1, 2)), packTrade(0, 2, 1, 1)), none);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.ReadingsMismatch.selector, 2, 1));
        market.settle(1, aliceBuysFromBob(1, 1), new GridMarket.SignedReading[](1));
    }

    function test_settleBatchTooLarge() public {
        bytes memory batch = new bytes(2 + 12 * 8193);
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BatchTooLarge.selector, 0, 8193));
        market.settle(1, batch, noReadings());
        batch = new bytes(2 + 4 * 1025);
        batch[0] = 0x04;
        batch[1] = 0x01;
        vm.expectRevert(abi.encodeWithSelector(GridMarket.BatchTooLarge.selector, 1025, 0));
        market.settle(1, batch, noReadings());
    }

    function test_settleSkipsEmptyReadingSlots() public {
        GridMarket.SignedReading[] memory rs = bothReadings(5);
        delete rs[0];
        market.settle(5, aliceBuysFromBob(10, 10), rs);
        assertEq(market.balanceOf(bob), 500_000, "alice lacked a reading");
        (,,,,, uint48 lastInterval,) = market.meters(meterId(2));
        assertEq(lastInterval, 5, "bob's reading still recorded");
    }

    function test_settleEmptyBatch() public {
        market.settle(9, hex"0000", noReadings());
        assertTrue(market.isSettled(9), "empty interval settled");
    }
}
