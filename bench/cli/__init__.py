"""Subcommands of the gridbench CLI; each module has register(subparsers)."""
