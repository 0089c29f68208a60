"""When a streaming board read its counters: the READING frame's seq on a fitted clock.

A board's READING frame carries no time (firmware/PROTOCOL.md §5.2), only ``seq``: +1
per frame since boot, the frames streamed every STREAM interval of the meter's own clock
(its crystal). The meter read
the counters of frame n at ``a + b·n`` on the host's monotonic clock, for a rate ``b``
(host seconds per frame: the stream period over the meter clock's pace, which absorbs a
crystal's drift or a period far off the nominal one) and an offset ``a``. Frames arrive
at that instant plus a delay that is never negative (link, scheduling, a busy host), so:

- ``b`` is fitted to the lower envelope of (n, arrival): the line through the earliest
  arrival of the older and of the newer half of the frames of the last
  ``slope_window_s`` (from the nominal period until they span ``min_span_s``, or from
  ``first_span_s`` when the nominal period is off by more than ``PRIOR_TOLERANCE``:
  a meter clocked at 0.55 of its nominal pace);
- ``a`` is the smallest ``arrival - b·n`` of the last ``offset_window_s``: the delay of
  the least-delayed recent frame is what is left of the jitter (its floor is the link's
  fixed latency, which moves every cut alike).

Dropped frames skip ``n`` and break nothing; ``seq`` is unwrapped modulo 2^28. A new boot
count or a ``seq`` going back (a reboot) starts a new segment (the rate is kept: the same
crystal). A meter whose frames fall later than the line by more than ``slip_s`` either
made the host wait (a stall: the frames then arrive in a burst that catches up with the
line) or slipped its cadence (restreamed after an outage, fell behind while signing: the
line moved for good). Such frames are held until one of the two is known: a later frame
back on the line places them on it; frames off the line for ``confirm_s`` of arrivals
start the line anew. When the host restarts the stream itself (after an outage: the
poller's STREAM) the line starts anew at once (:meth:`restart`). The frames of a new
line are held for ``confirm_s`` of arrivals and placed from the least delayed of them.
"""

from __future__ import annotations

from collections import deque

from bench.devices.reading import Reading
from bench.errors import ConfigError

SEQ_WRAP = 1 << 28
PRIOR_TOLERANCE = 0.1
"""How far (relative) a rate fitted over less than ``min_span_s`` may be off the nominal
period before it replaces it: far more than a crystal's drift, far less than a runner
slower than asked."""
Placed = tuple[Reading, float]


class StreamClock:
    """Places one board's readings at the host instant its counters were read."""

    def __init__(
        self,
        period_s: float,
        *,
        offset_window_s: float = 10.0,
        slope_window_s: float = 60.0,
        min_span_s: float = 20.0,
        first_span_s: float = 2.0,
        slip_s: float = 0.5,
        confirm_s: float = 0.3,
    ) -> None:
        if not period_s > 0:
            raise ConfigError(
                f"a stream period must be > 0 s (got {period_s}); check reading_interval_s"
            )
        self.rate_s = period_s
        """Host seconds per frame (the fitted stream period)."""
        self.offset_window_s = offset_window_s
        self.slope_window_s = slope_window_s
        self.min_span_s = min_span_s
        self.first_span_s = first_span_s
        self.slip_s = slip_s
        self.confirm_s = confirm_s
        self._boot: int | None = None
        self._seq = 0
        self._n = 0  # unwrapped frame count in the segment
        self._points: deque[tuple[int, float]] = deque()  # (n, arrival) on the current line
        self._offset_s = 0.0
        self._held: list[tuple[Reading, int]] = []
        self._last_t_s = float("-inf")
        self._since_fit = 0
        self._line_known = False
        self._prior_off = False  # the nominal period is far off: fitted over less

    def add(self, reading: Reading) -> list[Placed]:
        """Account one reading (in arrival order); returns the readings now placed, each
        with the host instant it was read at (none while it is held, several at once when
        held ones are resolved)."""
        out: list[Placed] = []
        n = self._count(reading, out)
        y = reading.t_s
        if n is None:  # a new segment: no line yet
            self._line_known = False
            n = self._n
        if not self._line_known or y - self._line(n) > self.slip_s:
            self._held.append((reading, n))
            if y - self._held[0][0].t_s >= self.confirm_s and len(self._held) >= 2:
                out.extend(self._restart_line())
            return out
        for held, held_n in self._held:  # a stall: they were on the line, only late
            self._points.append((held_n, held.t_s))
        self._points.append((n, y))
        self._fit()
        for held, held_n in self._held:
            out.append(self._place(held, min(held.t_s, self._line(held_n))))
        self._held.clear()
        out.append(self._place(reading, min(y, self._line(n))))
        return out

    def restart(self) -> None:
        """The host restarted the meter's stream (STREAM after an outage or a silence):
        its cadence begins anew, so the line is fitted again from the frames that follow
        (the rate is kept; held frames of the old cadence are placed first: :meth:`flush`)."""
        self._line_known = False

    def flush(self) -> list[Placed]:
        """Held readings placed on the line (at most at their arrival): the meter went
        out or rebooted before they were resolved, and a meter stops on its cadence."""
        known = self._line_known
        out = [self._place(r, min(r.t_s, self._line(n)) if known else r.t_s) for r, n in self._held]
        self._held.clear()
        return out

    def _count(self, r: Reading, out: list[Placed]) -> int | None:
        """The frame's unwrapped count; None when it starts a new segment."""
        if self._boot is not None and r.boot_count == self._boot:
            step = (r.seq - self._seq) % SEQ_WRAP
            if step < SEQ_WRAP // 2:
                self._seq = r.seq
                self._n += step
                return self._n
        out.extend(self.flush())
        self._boot, self._seq, self._n = r.boot_count, r.seq, 0
        return None

    def _line(self, n: int) -> float:
        return self._offset_s + self.rate_s * n

    def _restart_line(self) -> list[Placed]:
        """The held frames are the cadence the meter keeps now: a new line from them;
        unless the frames before and the held ones are one line of a rate far off the
        nominal period (then the line carries on at that rate)."""
        self._line_known = True
        held = [(n, r.t_s) for r, n in self._held]
        carried_on = False
        if not self._prior_off and self._points:
            before, rate_s = self._points, self.rate_s
            self._points = deque([*before, *held])
            span_s = self._points[-1][1] - self._points[0][1]
            self._fit_rate(min(span_s, self.min_span_s - 1e-9))  # only if far off
            carried_on = self._prior_off
            if not carried_on:
                self._points, self.rate_s = before, rate_s
        if not carried_on:
            self._points.clear()
            self._points.extend(held)
        self._fit()
        out = [self._place(r, min(r.t_s, self._line(n))) for r, n in self._held]
        self._held.clear()
        return out

    def _fit(self) -> None:
        points = self._points
        newest_s = points[-1][1]
        while newest_s - points[0][1] > self.slope_window_s:
            points.popleft()
        self._since_fit += 1
        span_s = newest_s - points[0][1]
        if span_s >= min(self.min_span_s, self.first_span_s) and self._since_fit >= 8:
            self._since_fit = 0
            self._fit_rate(span_s)
        rate = self.rate_s
        floor_s = min(newest_s - self.offset_window_s, points[max(0, len(points) - 64)][1])
        self._offset_s = min(y - rate * n for n, y in points if y >= floor_s)

    def _fit_rate(self, span_s: float) -> None:
        """The rate through the earliest arrival (for the current rate) of the older and
        of the newer half of the points: taken once they span ``min_span_s``, or over a
        shorter span when the nominal period is off by more than ``PRIOR_TOLERANCE``."""
        points = list(self._points)
        half = len(points) // 2
        if half < 4:
            return
        rate = self.rate_s
        for _ in range(3):
            older = min(points[:half], key=lambda p: p[1] - rate * p[0])
            newer = min(points[half:], key=lambda p: p[1] - rate * p[0])
            if newer[0] <= older[0] or newer[1] <= older[1]:
                return
            rate = (newer[1] - older[1]) / (newer[0] - older[0])
        if span_s < self.min_span_s and not self._prior_off:
            if abs(rate / self.rate_s - 1) <= PRIOR_TOLERANCE:
                return
            self._prior_off = True
        self.rate_s = rate

    def _place(self, r: Reading, t_s: float) -> Placed:
        t_s = max(t_s, self._last_t_s + 1e-6)  # the counters need readings in order
        self._last_t_s = t_s
        return r, t_s
