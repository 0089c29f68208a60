"""The run report: a journal replayed through the audit, its verdict and its JUnit file."""

from bench.report.replay import (
    CHECKS,
    IntervalRow,
    RunReport,
    check_of,
    format_report,
    message,
    replay,
)

__all__ = ["CHECKS", "IntervalRow", "RunReport", "check_of", "format_report", "message", "replay"]
