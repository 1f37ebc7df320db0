"""Schemathesis hooks for tests/test_fuzz.py (loaded by its ``schemathesis run``).

aiohttp's HTTP parser refuses a request line or a header line longer than 8190 bytes before
any route runs, with a plain-text 400 rather than the JSON error (see
tests/test_openapi_conformance.py, which keeps that gap visible). Requests that large are not sent:
the fuzzing is about what the service does with what reaches it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import schemathesis

PARSER_LINE_LIMIT = 8190
MARGIN = 512
"""Room for the method, path, protocol and percent-encoding differences between clients."""


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> bool:
    query = urlencode(case.query or {}, doseq=True)
    headers = [f"{name}: {value}" for name, value in (case.headers or {}).items()]
    longest = max([len(query.encode()), *(len(str(h).encode()) for h in headers)])
    return longest <= PARSER_LINE_LIMIT - MARGIN
