"""Page names: the service's normaliser against the table the widget is also tested with
(tests/browser/test_page_names.py), so the two cannot drift apart."""

from __future__ import annotations

import pytest

from counter.counting.pages import normalize_page
from tests.conftest import Client, hit, make_site
from tests.data import PageCase, page_cases

CASES = page_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.why for case in CASES])
def test_page_name_matches_the_shared_table(case: PageCase) -> None:
    assert normalize_page(case.raw) == case.page


@pytest.mark.parametrize("case", CASES, ids=[case.why for case in CASES])
def test_a_page_name_is_its_own_name(case: PageCase) -> None:
    # The widget sends names already normalised, and the service normalises them again.
    assert normalize_page(case.page) == case.page


async def test_a_hit_on_a_url_with_a_malformed_host_counts_its_path(client: Client) -> None:
    await make_site(client)
    stats = await hit(client, "visitor-aaaa", "https://[x/news/1/?utm_source=fb")
    assert stats["pages"] == {"/news/1": 1}
