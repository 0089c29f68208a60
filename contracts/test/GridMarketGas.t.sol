// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Fixture} from "./Fixture.sol";
import {GridMarket} from "../src/GridMarket.sol";

/// @notice The benchmark shape on the EVM: 1,000 trades among 50 metered participants.
contract GridMarketGasTest is Fixture {
    uint256 internal constant PARTICIPANTS = 50;
    uint256 internal constant TRADES = 1000;
    uint256 internal constant GAS_PER_TRADE_TARGET = 3000;

    function setUp() public {
        deployMarket(true);
        for (uint256 i; i < PARTICIPANTS; ++i) {
            address who = address(uint160(0xAC7000 + i));
            fund(who, 1e12);
            registerMeter(i, who);
        }
    }

    function batch() internal pure returns (bytes memory b) {
        uint256 head = 2 + 4 * PARTICIPANTS;
        b = new bytes(head + 12 * TRADES);
        b[0] = bytes1(uint8(PARTICIPANTS >> 8));
        b[1] = bytes1(uint8(PARTICIPANTS));
        for (uint256 i; i < PARTICIPANTS; ++i) {
            uint256 word = (i + 1) << 224;
            assembly {
                mstore(
                    add(add(b, 34), mul(i, 4)),
                    or(and(mload(add(add(b, 34), mul(i, 4))), sub(shl(224, 1), 1)), word)
                )
            }
        }
        for (uint256 t; t < TRADES; ++t) {
            uint256 buyer = (t * 7) % PARTICIPANTS;
            uint256 seller = (buyer + 1 + t % (PARTICIPANTS - 1)) % PARTICIPANTS;
            uint256 word = (buyer << 240) | (seller << 224) | ((1 + t % 500) << 192) | ((200 + t % 100) << 160);
            uint256 at = head + 12 * t;
            assembly {
                let p := add(add(b, 32), at)
                mstore(p, or(and(mload(p), sub(shl(160, 1), 1)), word))
            }
        }
    }

    function test_settle1000TradesWithinGasTarget() public {
        bytes memory b = batch();
        GridMarket.SignedReading[] memory rs = new GridMarket.SignedReading[](PARTICIPANTS);
        for (uint256 i; i < PARTICIPANTS; ++i) {
            rs[i] = reading(i, 1, 100);
        }
        vm.recordLogs();
        uint256 before = gasleft();
        market.settle(1, b, rs);
        uint256 used = before - gasleft();
        assertEq(vm.getRecordedLogs().length, PARTICIPANTS + 1, "no trade rejected");
        assertTrue(used <= GAS_PER_TRADE_TARGET * TRADES, "gas per trade above target");
        assertEq(market.batchHash(1), keccak256(b), "commitment");
    }
}
