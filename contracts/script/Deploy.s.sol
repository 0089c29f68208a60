// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {GridMarket} from "../src/GridMarket.sol";
import {LabCredit} from "../src/LabCredit.sol";

interface VmBroadcast {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
}

/// @notice Deploy LabCredit and GridMarket outside the bench, e.g. on a shared devnet:
///         forge script script/Deploy.s.sol --rpc-url URL --private-key KEY --broadcast
///         (MAX_INTERVAL_STEP, default 4: how far a settled interval id may jump ahead).
///         The bench then attaches with Market.attach(url, market address).
contract Deploy {
    VmBroadcast internal constant vm = VmBroadcast(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (LabCredit token, GridMarket market) {
        uint64 step = uint64(vm.envOr("MAX_INTERVAL_STEP", uint256(4)));
        vm.startBroadcast();
        token = new LabCredit();
        market = new GridMarket(token, step);
        vm.stopBroadcast();
    }
}
