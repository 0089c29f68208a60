// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice Drives the market with random deposits, withdrawals, signed and unsigned
///         settlements, readings, sessions, stray direct transfers and surplus recovery.
contract Handler is Fixture {
    uint256 internal constant ACTORS = 4;
    /// @notice Actor 3 is the city grid; its meter, 3, is the grid connection (the feeder).
    uint256 public constant GRID = 3;
    uint16 public constant LOSS_BP = 250;
    uint64 public interval;
    uint256 public recoveredEquality = 1; // 0 once recoverSurplus left holdings unequal
    uint256[] public sessionIds;

    constructor() {
        deployMarket();
        for (uint256 i; i < ACTORS; ++i) {
            if (i == GRID) registerGridMeter(i, who(i), LOSS_BP);
            else registerMeter(i, who(i));
            vm.prank(who(i));
            market.setTariff(meterId(i), uint32(100 + i));
        }
    }

    function actors() external pure returns (uint256) {
        return ACTORS;
    }

    function actor(uint256 i) external pure returns (address) {
        return who(i);
    }

    function marketAddress() external view returns (address) {
        return address(market);
    }

    /// @notice The newest counters meter n signed (recorded or not): an upper bound of
    ///         what the market can have attested, kept by the meters, not the market.
    function signedCounters(uint256 n) external view returns (uint64 importWh, uint64 exportWh) {
        return (clocks[n].importWh, clocks[n].exportWh);
    }

    function tokenBalanceOfMarket() external view returns (uint256) {
        return token.balanceOf(address(market));
    }

    function deposit(uint256 i, uint256 amount) external {
        amount = bound(amount, 1, 1e12);
        address w = who(i % ACTORS);
        token.mint(w, amount);
        vm.startPrank(w);
        token.approve(address(market), amount);
        market.deposit(amount);
        vm.stopPrank();
    }

    function withdraw(uint256 i, uint256 amount) external {
        address w = who(i % ACTORS);
        uint256 balance = market.balanceOf(w);
        if (balance == 0) return;
        vm.prank(w);
        market.withdraw(bound(amount, 1, balance));
    }

    function strayTransfer(uint256 amount) external {
        amount = bound(amount, 1, 1e9);
        token.mint(address(this), amount);
        token.transfer(address(market), amount);
    }

    function recover() external {
        if (token.balanceOf(address(market)) == market.totalBalancesWei() + market.totalSessionDepositsWei()) return;
        market.recoverSurplus(address(0xCAFE));
        if (token.balanceOf(address(market)) != market.totalBalancesWei() + market.totalSessionDepositsWei()) {
            recoveredEquality = 0;
        }
    }

    function read(uint256 i, uint16 dImport, uint16 dExport) external {
        report(i % ACTORS, dImport, dExport);
    }

    /// A settlement of random trades between random actors, each signing a random bid and
    /// offer (or none), some trades beyond what was signed or metered.
    function settle(uint256 seed, uint8 nTrades) external {
        interval += 1;
        bytes memory b = abi.encodePacked(uint16(ACTORS));
        for (uint256 i; i < ACTORS; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            b = abi.encodePacked(
                b,
                record(
                    i,
                    interval,
                    uint32(r % 3000),
                    uint32((r >> 16) % 400),
                    uint32((r >> 32) % 3000),
                    uint32((r >> 48) % 400)
                )
            );
        }
        for (uint256 t; t < nTrades % 16; ++t) {
            uint256 r = uint256(keccak256(abi.encode(seed, "t", t)));
            b = abi.encodePacked(
                b,
                packTrade(
                    uint16(r % ACTORS), uint16((r >> 8) % ACTORS), uint32((r >> 16) % 2000), uint32((r >> 32) % 400)
                )
            );
        }
        market.settle(interval, b, noReadings(), bytes32(0));
    }

    function openSession(uint256 i, uint256 cap) external {
        uint256 meter = i % ACTORS;
        address consumer = who((i + 1) % ACTORS);
        cap = bound(cap, 1, 1e6);
        if (market.balanceOf(consumer) < cap || market.activeSession(meterId(meter)) != 0) return;
        GridMarket.SignedCounters memory now_ = next(meter, 0, 0);
        vm.prank(consumer);
        sessionIds.push(market.openSession(meterId(meter), cap, 1000, 1 hours, now_));
    }

    function closeSession(uint256 k, uint16 dImport) external {
        if (sessionIds.length == 0) return;
        uint256 sid = sessionIds[k % sessionIds.length];
        (address consumer,, bytes32 id,,,, bool open) = market.sessions(sid);
        if (!open) return;
        uint256 meter = uint256(id >> 240) - 0x6d00;
        GridMarket.SignedCounters memory r = next(meter, dImport, 0);
        vm.prank(consumer);
        market.closeSession(sid, r);
    }
}

/// @notice Conservation and meter backing hold after any sequence of the handler's calls.
contract GridMarketInvariantTest {
    Handler internal handler;

    error InvariantBroken(string what);

    function setUp() public {
        handler = new Handler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function _market() internal view returns (GridMarket) {
        return GridMarket(address(_marketAddress()));
    }

    function _marketAddress() internal view returns (address) {
        return address(handler.marketAddress());
    }

    /// holdings >= Σ balances + escrow, with equality restored by every recoverSurplus.
    function invariant_holdingsCoverBalancesAndEscrow() public view {
        GridMarket m = _market();
        uint256 sum;
        for (uint256 i; i < handler.actors(); ++i) {
            sum += m.balanceOf(handler.actor(i));
        }
        if (sum != m.totalBalancesWei()) revert InvariantBroken("totalBalancesWei != sum of balances");
        uint256 held = handler.tokenBalanceOfMarket();
        if (held < sum + m.totalSessionDepositsWei()) revert InvariantBroken("holdings below balances + escrow");
        if (handler.recoveredEquality() != 1) revert InvariantBroken("recoverSurplus left a surplus");
    }

    /// No participant has sold more than its meters exported or bought more than imported,
    /// by the market's books and by the counters the meters signed (the handler's): the
    /// grid sold at most the feeder's import and bought at most its export plus the loss
    /// allowance of all energy injected (every other meter's export, the feeder's import).
    function invariant_tradesBackedByMeters() public view {
        GridMarket m = _market();
        uint256 grid = handler.GRID();
        (uint256 feederImport, uint256 feederExport) = handler.signedCounters(grid);
        uint256 injected = feederImport;
        for (uint256 i; i < handler.actors(); ++i) {
            (uint64 bought, uint64 sold, uint64 imported, uint64 exported) = m.energyOf(handler.actor(i));
            if (bought > imported || sold > exported) revert InvariantBroken("trade not backed by meters");
            (uint256 signedImport, uint256 signedExport) = handler.signedCounters(i);
            if (i == grid) continue;
            injected += signedExport;
            if (bought > signedImport || sold > signedExport) revert InvariantBroken("beyond the signed counters");
        }
        (uint64 gridBought, uint64 gridSold,,) = m.energyOf(handler.actor(grid));
        if (gridSold > feederImport) revert InvariantBroken("grid sold beyond the feeder's import");
        if (gridBought > feederExport + injected * handler.LOSS_BP() / 10_000) {
            revert InvariantBroken("grid bought beyond the feeder's export and losses");
        }
    }
}
