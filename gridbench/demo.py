"""``gridbench panel`` and ``gridbench demo``: the scenario with or without a window.

The panel's modules (:mod:`gui`, Qt) are imported only when a window opens, so
``gridbench demo --headless`` never loads them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.cli.run import add_run_options, run_headless
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
    """The panel on ``--config``: Start runs it (``--screenshot`` starts it at once)."""
    import signal
    from dataclasses import replace

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from bench.config import ScenarioConfig
    from gui.panel import PanelWindow, Runner, default_runner_factory

    journal_factory = default_runner_factory(args.journal)

    def make_runner(config: ScenarioConfig) -> Runner:
        return journal_factory(replace(config, chain_url=args.chain_url or config.chain_url))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = PanelWindow(runner_factory=make_runner, runs_dir=args.journal)
    if not window.open_config(args.config):
        app.processEvents()
        return 2
    for name in ("intervals", "speed"):
        value = getattr(args, name)
        if value is not None:
            window.pane.form.set_value(f"scenario.{name}", value)
    window.show()
    # Ctrl-C closes the window, which stops the run (and its Anvil) cleanly.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)  # lets Python see the signal while Qt's loop runs
    wake.start(200)
    wake.timeout.connect(lambda: None)
    if args.screenshot is not None:
        shot: Path = args.screenshot

        def save_and_quit(_summary: object) -> None:
            QTimer.singleShot(300, lambda: (window.grab().save(str(shot)), window.close()))

        window.bridge.sigSummary.connect(save_and_quit)
        window.start_button.click()
    app.exec()
    runner = window.current_runner()
    if runner is None:
        return 0
    runner.stop()
    join = getattr(runner, "join", None)
    if join is not None:
        join(60)
    return 0 if getattr(runner, "error", None) is None else 2
