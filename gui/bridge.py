"""The one bridge from bench events to Qt signals on the GUI thread."""

from __future__ import annotations

import queue

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from bench.events import (
    BenchEvent,
    IntervalReport,
    MeterAttested,
    MeterLink,
    MeterSample,
    RelaySwitched,
    RunSummary,
    SessionStatus,
    StatusEvent,
    WorkerStatus,
)


class EventBridge(QObject):
    """Drains the bench's event queue with a QTimer and re-emits each event as a signal.

    The bench's worker threads never touch Qt; this object lives on the GUI thread
    and polls the queue, so every slot runs on the GUI thread too. Every status event
    goes to ``sigStatus``; the typed ones also to their own signal (a meter's link, a
    supply session, a relay's outcome, the worker's state).
    """

    sigMeterSample = pyqtSignal(object)
    sigInterval = pyqtSignal(object)
    sigStatus = pyqtSignal(object)
    sigMeterLink = pyqtSignal(object)
    sigSession = pyqtSignal(object)
    sigRelay = pyqtSignal(object)
    sigWorker = pyqtSignal(object)
    sigSummary = pyqtSignal(object)
    sigMeterAttested = pyqtSignal(object)

    def __init__(
        self,
        events: queue.Queue[BenchEvent],
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

    def set_queue(self, events: queue.Queue[BenchEvent]) -> None:
        """Follow another run's queue from now on (the panel's next run)."""
        self._events = events

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
            elif isinstance(event, StatusEvent):
                self._status(event)
            elif isinstance(event, RunSummary):
                self.sigSummary.emit(event)
        return emitted

    def _status(self, event: StatusEvent) -> None:
        if isinstance(event, MeterLink):
            self.sigMeterLink.emit(event)
        elif isinstance(event, SessionStatus):
            self.sigSession.emit(event)
        elif isinstance(event, RelaySwitched):
            self.sigRelay.emit(event)
        elif isinstance(event, WorkerStatus):
            self.sigWorker.emit(event)
        elif isinstance(event, MeterAttested):
            self.sigMeterAttested.emit(event)
        self.sigStatus.emit(event)
