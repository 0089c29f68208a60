"""``gridbench panel`` and ``gridbench demo``: the scenario with or without a window.

The panel's modules (:mod:`gui`, Qt) are imported only when a window opens, so
``gridbench demo --headless`` never loads them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.cli.run import add_run_options, run_headless, runner_from_args
from bench.fixtures import demo_config


def display_available() -> bool:
    """True when Qt can open a real window here."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform in ("offscreen", "minimal"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``panel`` and ``demo`` subcommands."""
    panel = subparsers.add_parser(
        "panel",
        help="open the control panel on a bench config",
        description="Open the control panel: live meters, market curves, prices, trades.",
    )
    add_run_options(panel, default_config=None)
    panel.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="after the run finishes, save a screenshot of the window and exit",
    )
    panel.set_defaults(func=_panel)

    demo = subparsers.add_parser(
        "demo",
        help="run the demo scenario (panel if a display is available)",
        description=(
            "Run the bundled demo scenario: emulated meters over pseudo-terminals, market "
            "clearing per interval, settlement on a fresh Anvil. Opens the panel when a "
            "display is available; otherwise (or with --headless) prints a summary."
        ),
    )
    add_run_options(demo, default_config=demo_config())
    demo.add_argument("--headless", action="store_true", help="never open a window")
    demo.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="with the panel: save a screenshot and exit"
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.headless or not display_available():
        return run_headless(args)
    return _open_panel(args)


def _panel(args: argparse.Namespace) -> int:
    if args.config is None:
        args.config = demo_config()
    return _open_panel(args)


def _open_panel(args: argparse.Namespace) -> int:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from gui.panel import PanelWindow

    runner = runner_from_args(args)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = PanelWindow(runner.events, runner)
    window.show()
    if args.screenshot is not None:
        shot: Path = args.screenshot

        def save_and_quit(_summary: object) -> None:
            QTimer.singleShot(300, lambda: (window.grab().save(str(shot)), app.quit()))

        window.bridge.sigSummary.connect(save_and_quit)
    runner.start()
    window.start_button.setEnabled(False)
    window.stop_button.setEnabled(True)
    app.exec()
    runner.stop()
    runner.join()
    return 0 if runner.error is None else 2
