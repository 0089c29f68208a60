"""On a real X display (Xvfb, 1366 x 768), ``make demo`` opens the panel and runs the demo
in it; the screen is captured from the X server itself (not Qt's own grab)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageGrab

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
SCREEN = (1366, 768)


def _free_display() -> int:
    for number in range(90, 190):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            return number
    raise RuntimeError("no free X display number in :90-:189")


@pytest.fixture
def display() -> Iterator[str]:
    """A fresh Xvfb server of a 1366 x 768 screen; its display name."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (make setup installs it)")
    number = _free_display()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert server.poll() is None, "Xvfb exited at start"
            assert time.monotonic() < deadline, "Xvfb did not start within 30 s"
            time.sleep(0.1)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def _lit(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box of everything that is not the bare (black) X root window."""
    return image.convert("L").point(lambda v: 255 if v > 8 else 0).getbbox()


def test_make_demo_opens_the_panel_on_a_display(display: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env |= {"DISPLAY": display, "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fresh QSettings
    qt_shot = tmp_path / "panel-qt.png"
    args = f"--intervals 1 --journal {tmp_path / 'runs'} --screenshot {qt_shot}"
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"DEMO_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    frames: list[Image.Image] = []
    while demo.poll() is None:  # what the X server shows while the demo runs
        frame = ImageGrab.grab(xdisplay=display)
        if _lit(frame):
            frames.append(frame)
        time.sleep(0.5)
    output = demo.stdout.read() if demo.stdout else ""
    assert demo.returncode == 0, output
    assert frames, "nothing was ever drawn on the display: the panel did not open"
    screen = frames[-1]
    screen.save(tmp_path / "panel-xvfb-1366x768.png")
    assert screen.size == SCREEN
    box = _lit(screen)
    assert box is not None
    left, top, right, bottom = box
    assert (right - left, bottom - top) >= (1200, 650), f"the window covers only {box}"
    assert right <= SCREEN[0] and bottom <= SCREEN[1], "the window fits the screen"
    assert Image.open(qt_shot).size[0] >= 1200, "the panel's own screenshot after the run"
    assert list((tmp_path / "runs").glob("*-demo/journal.sqlite")), "the run kept its journal"
