// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {GridMarket} from "../src/GridMarket.sol";
import {LabCredit} from "../src/LabCredit.sol";

interface VmBroadcast {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envOr(string calldata name, bool defaultValue) external view returns (bool);
}

/// @notice Deploy LabCredit and GridMarket outside the bench, e.g. on a shared devnet:
///         forge script script/Deploy.s.sol --rpc-url URL --private-key KEY --broadcast
///         (REQUIRE_READINGS=false deploys a market that settles without meter readings).
///         The bench then attaches with Market.attach(url, market address).
contract Deploy {
    VmBroadcast internal constant vm = VmBroadcast(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (LabCredit token, GridMarket market) {
        bool requireReadings = vm.envOr("REQUIRE_READINGS", true);
        vm.startBroadcast();
        token = new LabCredit();
        market = new GridMarket(token, requireReadings);
        vm.stopBroadcast();
    }
}
