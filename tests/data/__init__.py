"""Tables of cases shared by the Python tests and the browser tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PAGE_CASES = Path(__file__).with_name("page_cases.json")


@dataclass(frozen=True, slots=True)
class PageCase:
    """One address or id (``raw``) and the page name both normalisers must give it."""

    raw: str
    page: str
    why: str


def page_cases() -> list[PageCase]:
    """The page-name table: counter.counting.pages and the widget's pageName run every row."""
    return [PageCase(**row) for row in json.loads(PAGE_CASES.read_text(encoding="utf-8"))]
