"""What a backup or restore has done so far, shown on a terminal while it runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

INTERVAL_S = 0.2
"""Least time between two progress lines: a terminal is not a log."""


@dataclass
class Counts:
    """Sites, keys, lines and bytes done; ``total_sites`` when known."""

    sites: int = 0
    keys: int = 0
    lines: int = 0
    bytes: int = 0
    total_sites: int = 0


class Progress:
    """One line rewritten in place on ``stream`` (stderr), only when it is a terminal, so
    redirected output and logs stay clean."""

    def __init__(
        self, what: str, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.stream = stream
        self.clock = clock
        self.enabled = stream.isatty()
        self.shown_at: float | None = None

    def show(self, counts: Counts) -> None:
        now = self.clock()
        if self.shown_at is None or now - self.shown_at >= INTERVAL_S:
            self._write(counts, final=False)
            self.shown_at = now

    def done(self, counts: Counts) -> None:
        """The last numbers and a newline, if anything was shown (also after a failure, so
        the error message starts on a line of its own)."""
        if self.shown_at is not None:
            self._write(counts, final=True)

    def _write(self, counts: Counts, *, final: bool) -> None:
        if not self.enabled:
            return
        sites = f"{counts.sites}/{counts.total_sites}" if counts.total_sites else counts.sites
        text = (
            f"\r{self.what}: {sites} sites, {counts.keys:,} keys, "
            f"{counts.bytes / 1_000_000:,.1f} MB"
        )
        self.stream.write(text + ("\n" if final else ""))
        self.stream.flush()
