// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Base} from "./Base.sol";
import {GridMarket} from "../src/GridMarket.sol";
import {LabCredit} from "../src/LabCredit.sol";

/// @notice A token + market pair operated by the test contract, with helpers to fund
///         participants, register meters, sign readings and pack batches.
abstract contract Fixture is Base {
    LabCredit internal token;
    GridMarket internal market;

    function deployMarket(bool requireReadings) internal {
        token = new LabCredit();
        market = new GridMarket(token, requireReadings);
    }

    function fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(market), type(uint256).max);
        market.deposit(amount);
        vm.stopPrank();
    }

    function meterId(uint256 n) internal pure returns (bytes32) {
        return bytes32(uint256(0x6d00 + n) << 240);
    }

    function attestorKey(uint256 n) internal pure returns (uint256) {
        return 0xA77E57 + n;
    }

    function registerMeter(uint256 n, address owner) internal {
        market.registerMeter(meterId(n), owner, vm.addr(attestorKey(n)), "lab bench");
    }

    function reading(uint256 n, uint64 intervalId, uint64 energyWh)
        internal
        view
        returns (GridMarket.SignedReading memory r)
    {
        return signedBy(attestorKey(n), meterId(n), intervalId, energyWh);
    }

    function signedBy(uint256 key, bytes32 id, uint64 intervalId, uint64 energyWh)
        internal
        view
        returns (GridMarket.SignedReading memory r)
    {
        return signedAt(key, id, intervalId, energyWh, 1_700_000_000);
    }

    function signedAt(uint256 key, bytes32 id, uint64 intervalId, uint64 energyWh, uint64 timestamp)
        internal
        view
        returns (GridMarket.SignedReading memory r)
    {
        bytes32 digest = market.readingDigest(id, intervalId, energyWh, timestamp);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, digest);
        return GridMarket.SignedReading(id, intervalId, energyWh, timestamp, v, rr, s);
    }

    function noReadings() internal pure returns (GridMarket.SignedReading[] memory) {
        return new GridMarket.SignedReading[](0);
    }

    function packParticipants(uint32[] memory indices) internal pure returns (bytes memory b) {
        b = abi.encodePacked(uint16(indices.length));
        for (uint256 i; i < indices.length; ++i) {
            b = abi.encodePacked(b, indices[i]);
        }
    }

    function packTrade(uint16 buyerSlot, uint16 sellerSlot, uint32 energyWh, uint32 price)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(buyerSlot, sellerSlot, energyWh, price);
    }

    function two(uint32 a, uint32 b) internal pure returns (uint32[] memory xs) {
        xs = new uint32[](2);
        xs[0] = a;
        xs[1] = b;
    }
}
