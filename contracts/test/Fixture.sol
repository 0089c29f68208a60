// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Base, Vm} from "./Base.sol";
import {GridMarket} from "../src/GridMarket.sol";
import {LabCredit} from "../src/LabCredit.sol";

/// @notice A token + market pair operated by the test contract, with helpers to fund
///         participants, register meters, sign counters and orders, and pack batches.
abstract contract Fixture is Base {
    LabCredit internal token;
    GridMarket internal market;

    uint64 internal constant STEP = 4;
    uint32 internal constant RATED_W = 10_000;
    uint64 internal constant T0 = 1_000_000;

    struct MeterClock {
        uint32 seq;
        uint64 timeS;
        uint64 importWh;
        uint64 exportWh;
    }

    mapping(uint256 => MeterClock) internal clocks;

    function deployMarket() internal {
        token = new LabCredit();
        market = new GridMarket(token, STEP);
    }

    function key(uint256 i) internal pure returns (uint256) {
        return 0xB0B0 + i;
    }

    function who(uint256 i) internal pure returns (address) {
        return vm.addr(key(i));
    }

    function fund(address wallet, uint256 amount) internal {
        token.mint(wallet, amount);
        vm.startPrank(wallet);
        token.approve(address(market), type(uint256).max);
        market.deposit(amount);
        vm.stopPrank();
    }

    function meterId(uint256 n) internal pure returns (bytes32) {
        return bytes32(uint256(0x6d00 + n) << 240);
    }

    function meterKey(uint256 n) internal pure returns (uint256) {
        return 0xA77E57 + n;
    }

    /// @dev Register meter n to `owner`, commissioned at counters (0, 0), time T0.
    function registerMeter(uint256 n, address owner) internal {
        clocks[n] = MeterClock(0, T0, 0, 0);
        market.registerMeter(
            meterId(n),
            owner,
            vm.addr(meterKey(n)),
            GridMarket.Attestation.Meter,
            RATED_W,
            "lab bench",
            counters(n, 0, 0, 0, T0)
        );
    }

    /// @dev Register meter n as the grid connection, owned by `owner` (the grid), with a
    ///      line-loss allowance of `lossBp` basis points.
    function registerGridMeter(uint256 n, address owner, uint16 lossBp) internal {
        clocks[n] = MeterClock(0, T0, 0, 0);
        market.registerGridMeter(
            meterId(n),
            owner,
            vm.addr(meterKey(n)),
            GridMarket.Attestation.Meter,
            RATED_W,
            lossBp,
            "feeder",
            counters(n, 0, 0, 0, T0)
        );
    }

    function counters(uint256 n, uint32 seq, uint64 importWh, uint64 exportWh, uint64 timeS)
        internal
        view
        returns (GridMarket.SignedCounters memory)
    {
        return signedCounters(meterKey(n), meterId(n), seq, importWh, exportWh, timeS);
    }

    function signedCounters(uint256 signer, bytes32 id, uint32 seq, uint64 importWh, uint64 exportWh, uint64 timeS)
        internal
        pure
        returns (GridMarket.SignedCounters memory)
    {
        bytes32 digest = sha256(abi.encodePacked("GBR1", id, seq, importWh, exportWh, timeS));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signer, digest);
        return GridMarket.SignedCounters(id, seq, importWh, exportWh, timeS, v, r, s);
    }

    /// @dev The next reading of meter n: counters raised by (dImport, dExport) one hour later.
    function next(uint256 n, uint64 dImport, uint64 dExport) internal returns (GridMarket.SignedCounters memory) {
        MeterClock storage c = clocks[n];
        c.seq += 1;
        c.timeS += 3600;
        c.importWh += dImport;
        c.exportWh += dExport;
        return counters(n, c.seq, c.importWh, c.exportWh, c.timeS);
    }

    function report(uint256 n, uint64 dImport, uint64 dExport) internal {
        market.submitReading(next(n, dImport, dExport));
    }

    function noReadings() internal pure returns (GridMarket.SignedCounters[] memory) {
        return new GridMarket.SignedCounters[](0);
    }

    function one(GridMarket.SignedCounters memory r) internal pure returns (GridMarket.SignedCounters[] memory rs) {
        rs = new GridMarket.SignedCounters[](1);
        rs[0] = r;
    }

    /// @dev A signed order: u32 bid Wh, bid limit, offer Wh, offer limit, then r, s, v over
    ///      both sides (81 bytes; zeros without an order on either side).
    function order(
        uint256 signer,
        address participant,
        uint64 intervalId,
        uint32 bidWh,
        uint32 bidLimit,
        uint32 offerWh,
        uint32 offerLimit
    ) internal view returns (bytes memory) {
        if (bidWh == 0 && offerWh == 0) return new bytes(81);
        bytes32 digest = market.orderDigest(participant, intervalId, bidWh, bidLimit, offerWh, offerLimit);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signer, digest);
        return abi.encodePacked(bidWh, bidLimit, offerWh, offerLimit, r, s, v);
    }

    /// @dev Participant i's record for `intervalId`: its index and its signed order.
    function record(uint256 i, uint64 intervalId, uint32 bidWh, uint32 bidLimit, uint32 offerWh, uint32 offerLimit)
        internal
        view
        returns (bytes memory)
    {
        address p = who(i);
        return abi.encodePacked(
            market.participantIndex(p), order(key(i), p, intervalId, bidWh, bidLimit, offerWh, offerLimit)
        );
    }

    function packTrade(uint16 buyerSlot, uint16 sellerSlot, uint32 energyWh, uint32 price)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(buyerSlot, sellerSlot, energyWh, price);
    }

    /// @dev A batch of two records (sorted by index) and the given trades.
    function batch2(bytes memory a, bytes memory b, bytes memory trades) internal pure returns (bytes memory) {
        return abi.encodePacked(uint16(2), a, b, trades);
    }

    function reasonsOf(Vm.Log[] memory logs) internal view returns (bytes memory) {
        bytes32 topic = keccak256("TradesRejected(uint64,bytes)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(market) && logs[i].topics[0] == topic) {
                return abi.decode(logs[i].data, (bytes));
            }
        }
        return "";
    }

    function holdingsCovered() internal view returns (bool) {
        return token.balanceOf(address(market)) >= market.totalBalancesWei() + market.totalSessionDepositsWei();
    }
}

/// @notice A token that keeps 1 % of every transfer (fee on transfer).
contract FeeToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        allowance[from][msg.sender] -= amount;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        balanceOf[from] -= amount;
        uint256 fee = amount / 100;
        balanceOf[to] += amount - fee;
        totalSupply -= fee;
    }
}

/// @notice A token whose transfer and transferFrom return nothing (like early USDT).
contract NoReturnToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
    }

    function transfer(address to, uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// @notice A token whose transfers return false without moving anything.
contract FalseToken {
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
