// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice The few forge cheatcodes these tests use (forge-std is not installable offline).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function assume(bool condition) external pure;
    function chainId(uint256 newChainId) external;
    function label(address account, string calldata name) external;
    function warp(uint256 timestamp) external;

    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }
}

/// @notice Assertions and helpers shared by the test contracts.
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    error AssertionFailed(string what, uint256 got, uint256 expected);
    error AssertionFailedBytes32(string what, bytes32 got, bytes32 expected);

    function assertEq(uint256 got, uint256 expected, string memory what) internal pure {
        if (got != expected) revert AssertionFailed(what, got, expected);
    }

    function assertEq(bytes32 got, bytes32 expected, string memory what) internal pure {
        if (got != expected) revert AssertionFailedBytes32(what, got, expected);
    }

    function assertEq(address got, address expected, string memory what) internal pure {
        assertEq(uint256(uint160(got)), uint256(uint160(expected)), what);
    }

    function assertTrue(bool condition, string memory what) internal pure {
        if (!condition) revert AssertionFailed(what, 0, 1);
    }

    /// @dev Map `x` into [lo, hi] without discarding fuzz inputs.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}
