"""What the service reports about itself, as one object handed to whoever reports.

``create_app`` makes one :class:`~counter.metrics.Metrics` (Prometheus) and hands it to the
stores, the group-commit flusher, the services and the request log. Code that nobody
observes (tests of other things, the command line) gets this base class, which reports
nothing. Counting happens once per flush wherever it can: a hit costs no metrics call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What one group-commit flush did."""

    events: int
    sites: int
    duration_s: float
    ok: bool
    queued_after: int
    hits: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Hits durably counted by this flush, by (site id, visitor class g/m/b)."""


class Instruments:
    """Every report the service makes; the base reports nothing."""

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """One HTTP request answered (status 499: the client went away first)."""

    def flushed(self, report: FlushReport) -> None:
        """One group-commit flush, successful or not."""

    def queue_depth(self, events: int) -> None:
        """Events waiting for a flush right now."""

    def redis_error(self, exc: BaseException) -> None:
        """One failed Redis call, retried ones included."""

    def vote(self, site: str) -> None:
        """One poll vote accepted."""

    def refused(self, limit: str, site: str | None = None, n: int = 1) -> None:
        """``n`` requests (or hits) refused or not counted because a limit was reached."""

    def connections(self, open_now: int) -> None:
        """Client connections this process holds open right now (on each open and close)."""

    @contextlib.contextmanager
    def stream(self, kind: str, site: str) -> Iterator[None]:
        """A Server-Sent-Events stream open for as long as the block runs."""
        yield


NO_INSTRUMENTS = Instruments()
"""Shared by everything nobody observes (it holds no state)."""
