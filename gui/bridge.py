"""The one bridge from bench events to Qt signals on the GUI thread."""

from __future__ import annotations

import queue

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from bench.events import BenchStatus, IntervalReport, MeterSample, RunSummary


class EventBridge(QObject):
    """Drains the bench's event queue with a QTimer and re-emits each event as a signal.

    The bench's worker threads never touch Qt; this object lives on the GUI thread
    and polls the queue, so every slot runs on the GUI thread too.
    """

    sigMeterSample = pyqtSignal(object)
    sigInterval = pyqtSignal(object)
    sigStatus = pyqtSignal(object)
    sigSummary = pyqtSignal(object)

    def __init__(
        self,
        events: queue.Queue[object],
        period_ms: int = 50,
        max_per_tick: int = 2000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._events = events
        self._max_per_tick = max_per_tick
        self._timer = QTimer(self)
        self._timer.setInterval(period_ms)
        self._timer.timeout.connect(self.drain)

    def start(self) -> None:
        """Start polling the queue."""
        self._timer.start()

    def stop(self) -> None:
        """Stop polling; events stay queued."""
        self._timer.stop()

    def drain(self) -> int:
        """Emit every queued event (bounded per tick); return how many were emitted."""
        emitted = 0
        while emitted < self._max_per_tick:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            emitted += 1
            if isinstance(event, MeterSample):
                self.sigMeterSample.emit(event)
            elif isinstance(event, IntervalReport):
                self.sigInterval.emit(event)
            elif isinstance(event, BenchStatus):
                self.sigStatus.emit(event)
            elif isinstance(event, RunSummary):
                self.sigSummary.emit(event)
        return emitted
