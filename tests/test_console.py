"""The console's files: GET /admin and its assets, with a strict Content-Security-Policy, the
pinned charting library, a readable script served minified, and labels in both languages.

What the console does in a browser is tested in tests/browser/test_console.py."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from importlib import resources

import pytest
from aiohttp.test_utils import TestClient, TestServer

from counter.app import create_app
from counter.embedded import EmbeddedServer
from counter.settings import Settings
from counter.web.console import ASSETS
from tests.conftest import Client

STATIC = resources.files("counter").joinpath("static")
SOURCE = STATIC.joinpath("admin.js").read_text(encoding="utf-8")
PAGE = STATIC.joinpath("admin.html").read_text(encoding="utf-8")
UPLOT_VERSION = "1.6.32"
UPLOT_SHA256 = {
    # sha256 of the files of `npm pack uplot@1.6.32`, as published (package/dist, package/LICENSE)
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}


def csp_directives(header: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in header.split(";")
        if part.strip()
    }


async def test_the_console_page_is_served_with_a_strict_content_security_policy(
    client: Client,
) -> None:
    resp = await client.get("/admin")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    policy = csp_directives(resp.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-cache"


class _Markup(HTMLParser):
    """What a strict policy would refuse in the page: inline scripts, styles and handlers,
    and any address of another host."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.refused.append("inline <script>")
        if tag == "style":
            self.refused.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.refused.append(f"{tag} {name}=")
            if name in {"src", "href"} and value:
                self.addresses.append(value)


def test_the_page_has_no_inline_script_style_or_handler_and_names_no_other_host() -> None:
    markup = _Markup()
    markup.feed(PAGE)
    assert markup.refused == []
    assert markup.addresses, "the page loads its script and styles"
    for address in markup.addresses:
        assert address.startswith(("admin/", "#", "data:")), address


@pytest.mark.parametrize("served", sorted(ASSETS))
async def test_each_asset_is_served_with_an_etag_and_the_same_policy(
    client: Client, served: str
) -> None:
    resp = await client.get(f"/admin/{served}")
    assert resp.status == 200
    expected = "text/css" if served.endswith(".css") else "text/javascript"
    assert resp.content_type == expected
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    again = await client.get(f"/admin/{served}", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_an_unknown_asset_is_the_json_404(client: Client) -> None:
    resp = await client.get("/admin/other.js")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", sorted(UPLOT_SHA256))
def test_the_charting_library_is_the_pinned_release_with_its_licence(name: str) -> None:
    data = STATIC.joinpath("vendor", "uplot", name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == UPLOT_SHA256[name], (
        f"vendor/uplot/{name} is not the file of uplot {UPLOT_VERSION}: update it with "
        "`npm pack uplot@VERSION` and pin the new sha256 here"
    )


async def test_the_charting_library_is_served_as_published(client: Client) -> None:
    resp = await client.get("/admin/uplot.js", headers={"Accept-Encoding": "identity"})
    served = await resp.read()
    assert served == STATIC.joinpath("vendor", "uplot", "uPlot.iife.min.js").read_bytes()
    assert served.startswith(
        f"/*! https://github.com/leeoniya/uPlot (v{UPLOT_VERSION}) */".encode()
    )
    licence = STATIC.joinpath("vendor", "uplot", "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence
    assert "Leon Sorokin" in licence


async def test_the_console_script_is_served_minified_with_its_names(client: Client) -> None:
    resp = await client.get("/admin/console.js", headers={"Accept-Encoding": "identity"})
    served = (await resp.read()).decode()
    assert len(served) < 0.8 * len(SOURCE)
    assert served.startswith("/*! counter console:")
    comments = [line.strip() for line in SOURCE.splitlines() if line.strip().startswith("// ")]
    assert len(comments) > 80
    assert [comment for comment in comments if comment in served] == []
    for name in re.findall(r"^ *(?:async )?function (\w+)\(", SOURCE, re.M):
        assert f"function {name}(" in served


def test_the_console_script_is_written_to_be_read_and_safe() -> None:
    # The minifier keeps a template literal intact only when no other is nested inside it.
    assert re.findall(r"\$\{[^}`]*`", SOURCE) == []
    # Text reaches the page as text: no markup is ever built from a string.
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in SOURCE
    # Every named function says what it is for, on the line before it.
    lines = SOURCE.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^ *(?:async )?function \w+\(", line):
            assert lines[number - 1].strip().startswith("//"), line


def labels(language: str) -> set[str]:
    """The keys of one language's table in the script's LABELS."""
    block = re.search(rf"^    {language}: \{{\n(.*?)^    \}},$", SOURCE, re.M | re.S)
    assert block is not None, language
    return set(re.findall(r"(\w+): [\"']", block.group(1)))


def test_every_label_is_in_both_languages() -> None:
    vi, en = labels("vi"), labels("en")
    assert vi == en
    used = set(re.findall(r'data-t="(\w+)"', PAGE))
    used |= set(re.findall(r'\bt\("(\w+)"', SOURCE))
    assert used - en == set()
    assert len(used) > 100


async def test_the_console_is_served_without_the_demo_and_without_an_admin_token(
    redis_server: EmbeddedServer,
) -> None:
    """External-Redis mode with no token: the page still loads, and its sign-in says why the
    admin API refuses (403 admin_disabled)."""
    app = create_app(Settings(redis_url=redis_server.url, demo=False))
    async with TestClient(TestServer(app)) as http:
        assert (await http.get("/admin")).status == 200
        assert (await http.get("/admin/console.js")).status == 200
        refused = await http.get("/v1/admin/sites", headers={"Authorization": "Bearer " + "x" * 20})
        assert refused.status == 403
        assert (await refused.json())["error"]["code"] == "admin_disabled"
