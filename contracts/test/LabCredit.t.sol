// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Base} from "./Base.sol";
import {LabCredit} from "../src/LabCredit.sol";

/// @notice Unit and fuzz tests of the LABC token.
contract LabCreditTest is Base {
    LabCredit internal token;
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);

    function setUp() public {
        token = new LabCredit();
        token.mint(alice, 1000);
    }

    function test_metadata() public view {
        assertEq(token.decimals(), 6, "decimals");
        assertEq(keccak256(bytes(token.symbol())), keccak256("LABC"), "symbol");
        assertEq(keccak256(bytes(token.name())), keccak256("LabCredit"), "name");
        assertEq(token.minter(), address(this), "minter");
    }

    function test_mint() public {
        token.mint(bob, 5);
        assertEq(token.balanceOf(bob), 5, "balance");
        assertEq(token.totalSupply(), 1005, "supply");
    }

    function test_mintOnlyMinter() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(LabCredit.NotMinter.selector, alice));
        token.mint(alice, 1);
    }

    function test_mintRejectsZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(LabCredit.ERC20InvalidReceiver.selector, address(0)));
        token.mint(address(0), 1);
    }

    function test_transfer() public {
        vm.prank(alice);
        assertTrue(token.transfer(bob, 400), "returns true");
        assertEq(token.balanceOf(alice), 600, "sender");
        assertEq(token.balanceOf(bob), 400, "receiver");
    }

    function test_transferErrors() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(LabCredit.ERC20InsufficientBalance.selector, alice, 1000, 1001));
        token.transfer(bob, 1001);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(LabCredit.ERC20InvalidReceiver.selector, address(0)));
        token.transfer(address(0), 1);
    }

    function test_approveAndTransferFrom() public {
        vm.prank(alice);
        assertTrue(token.approve(bob, 300), "approve");
        vm.prank(bob);
        assertTrue(token.transferFrom(alice, bob, 200), "transferFrom");
        assertEq(token.allowance(alice, bob), 100, "allowance spent");
        assertEq(token.balanceOf(bob), 200, "moved");
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(LabCredit.ERC20InsufficientAllowance.selector, alice, bob, 100, 101));
        token.transferFrom(alice, bob, 101);
    }

    function test_infiniteAllowanceIsNotSpent() public {
        vm.prank(alice);
        token.approve(bob, type(uint256).max);
        vm.prank(bob);
        token.transferFrom(alice, bob, 10);
        assertEq(token.allowance(alice, bob), type(uint256).max, "unchanged");
    }

    function testFuzz_transferConservesSupply(uint256 amount, address to) public {
        vm.assume(to != address(0));
        amount = bound(amount, 0, 1000);
        vm.prank(alice);
        token.transfer(to, amount);
        uint256 sum = token.balanceOf(alice) + (to == alice ? 0 : token.balanceOf(to));
        assertEq(sum, 1000, "conserved");
        assertEq(token.totalSupply(), 1000, "supply");
    }
}
