"""An :class:`~counter.instruments.Instruments` that remembers what it was told, for tests
that look at flushes without scraping Prometheus."""

from __future__ import annotations

from counter.instruments import FlushReport, Instruments


class Recorder(Instruments):
    def __init__(self) -> None:
        self.flushes: list[FlushReport] = []
        self.refusals: list[tuple[str, str | None, int]] = []

    def flushed(self, report: FlushReport) -> None:
        self.flushes.append(report)

    def refused(self, limit: str, site: str | None = None, n: int = 1) -> None:
        self.refusals.append((limit, site, n))
