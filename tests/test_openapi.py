"""The OpenAPI document: it describes every route, follows the code's own limits, and is
served as it is kept in ``counter/static/openapi.json``."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis

from counter.app import create_app
from counter.counting import catalog, pages
from counter.polls import model as poll_model
from counter.settings import Settings
from counter.sites import model as site_model
from counter.web import admin, admin_views, counting, openapi, polls
from counter.web.errors import FALLBACK_ROUTES
from counter.web.routes import ROUTES
from counter.web.static import read_static
from tests.conftest import Client

DOCUMENT: dict[str, Any] = orjson.loads(read_static("openapi.json"))
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
POLLS_LISTED_MAX = 500
"""The most ``COUNTER_POLLS_LISTED`` may be."""
AUTOMATIC_HEAD = "HEAD"
"""aiohttp's ``add_get`` answers HEAD beside GET: not an operation of its own."""


def documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in METHODS
    }


def routed() -> set[tuple[str, str]]:
    """Every (method, path) the app's router answers, the fallback routes aside."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1", demo=True))
    return {
        (route.method, resource.canonical)
        for resource in app.router.resources()
        if resource.name not in FALLBACK_ROUTES
        for route in resource
        if route.method != AUTOMATIC_HEAD
    }


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def resolve(node: Any) -> Any:
    """``node`` with a top-level ``$ref`` followed (siblings such as a description kept)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def test_every_route_is_documented_and_every_documented_operation_is_routed() -> None:
    """Add an operation to the document whenever a route is added (and the other way round)."""
    table = {(method, path) for method, path, _ in ROUTES}
    assert table - documented() == set(), (
        "routes in ROUTES missing from counter/static/openapi.json"
    )
    assert routed() - documented() == set(), "routes missing from counter/static/openapi.json"
    assert documented() - routed() == set(), "documented operations no route answers"


def test_the_document_is_valid_openapi_3_1() -> None:
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    schema.validate()
    assert DOCUMENT["openapi"].startswith("3.1.")


def test_every_reference_and_link_target_exists() -> None:
    text = orjson.dumps(DOCUMENT).decode()
    for ref in {part.split('"')[0] for part in text.split('"$ref":"')[1:]}:
        assert resolve({"$ref": ref}) is not None, ref
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for name, link in DOCUMENT["components"]["links"].items():
        assert link["operationId"] in ids, name


def test_every_refusal_is_the_json_error_and_limits_say_when_to_retry() -> None:
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            answer = resolve(response)
            if int(status) >= 400:
                content = answer["content"]
                assert list(content) == ["application/json"], (method, path, status)
                schema = content["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if status == "429" or (status == "503" and path.startswith("/v1/")):
                header = resolve(answer["headers"]["Retry-After"])
                assert header["required"] is True, (method, path, status)


def test_admin_operations_need_the_bearer_token_and_say_so() -> None:
    for method, path, operation in operations():
        if path.startswith("/v1/admin/"):
            assert operation["security"] == [{"adminToken": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        elif path == "/metrics":
            # open unless COUNTER_METRICS_TOKEN is set: no token, or that one
            assert operation["security"] == [{}, {"metricsToken": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
        else:
            assert "security" not in operation, (method, path)
    for name in ("adminToken", "metricsToken"):
        scheme = DOCUMENT["components"]["securitySchemes"][name]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


# Bodies the service reads, and the fields it takes (the handlers' own field sets, private
# ones included): unknown ones are a 400, so the document says ``additionalProperties: false``
# and lists exactly these. A new operation with a body belongs here too.
BODIES = {
    ("POST", "/v1/hit"): counting.HIT_FIELDS,
    ("POST", "/v1/ping"): counting.PRESENCE_FIELDS,
    ("POST", "/v1/leave"): counting.PRESENCE_FIELDS,
    ("POST", "/v1/polls/{id}/vote"): polls._VOTE_FIELDS,
    ("POST", "/v1/polls/{id}/ticket"): polls._TICKET_FIELDS,
    ("PUT", "/v1/admin/sites/{site}"): site_model.EDITABLE,
    ("POST", "/v1/admin/sites/{site}/base"): admin._BASE_FIELDS,
    ("POST", "/v1/admin/sites/{site}/pages/prune"): admin._PRUNE_FIELDS,
    ("POST", "/v1/admin/polls"): poll_model.FIELDS,
    ("PATCH", "/v1/admin/polls/{id}"): poll_model.FIELDS,
}


def test_request_bodies_list_exactly_the_fields_the_service_takes() -> None:
    with_bodies = {(m, p) for m, p, operation in operations() if "requestBody" in operation}
    assert with_bodies == set(BODIES)
    for (method, path), fields in BODIES.items():
        operation = DOCUMENT["paths"][path][method.lower()]
        for media_type, content in operation["requestBody"]["content"].items():
            schema = resolve(content["schema"])
            assert schema["additionalProperties"] is False, (method, path, media_type)
            assert set(schema["properties"]) == fields, (method, path, media_type)


def at(pointer: str) -> Any:
    """The value at a JSON pointer of the document, ``$ref``s followed on the way."""
    node: Any = DOCUMENT
    for part in pointer.removeprefix("/").split("/"):
        node = resolve(node)
        node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/")]
    return node


# The document's limits, and the code's: a limit changed in one place only is a lie.
LIMITS = [
    ("/paths/~1v1~1stats/get/parameters/1/schema/maxItems", counting.MAX_PAGES_PER_READ),
    ("/components/schemas/Page/maxLength", pages.MAX_PAGE_LENGTH),
    ("/components/schemas/MemberToken/maxLength", counting.MAX_MEMBER_TOKEN),
    ("/components/schemas/Vote/properties/options/maxItems", poll_model.MAX_OPTIONS),
    ("/components/schemas/PollOptions/maxItems", poll_model.MAX_OPTIONS),
    ("/components/schemas/BaseCounts/properties/pages/maxProperties", admin.MAX_BASE_PAGES),
    ("/components/schemas/BaseCount/maximum", admin.MAX_COUNT),
    ("/components/schemas/SitePatch/properties/origins/maxItems", site_model.MAX_ORIGINS),
    ("/components/schemas/SitePatch/properties/max_pages/maximum", site_model.MAX_MAX_PAGES),
    (
        "/components/schemas/SitePatch/properties/member_token_max_s/maximum",
        site_model.MAX_MEMBER_TOKEN_MAX_S,
    ),
    ("/components/schemas/PagePrune/properties/pages/maxItems", admin.MAX_PRUNE),
    ("/components/schemas/PagePrune/properties/below/maximum", admin.MAX_COUNT),
    (
        "/paths/~1v1~1admin~1sites~1{site}~1pages/get/parameters/1/schema/maximum",
        catalog.MAX_PAGE_LIST,
    ),
    ("/components/schemas/PollList/properties/polls/maxItems", POLLS_LISTED_MAX),
    ("/components/parameters/ViewLimit/schema/maximum", admin_views.MAX_LIMIT),
    ("/components/schemas/TopPages/properties/pages/maxItems", admin_views.MAX_LIMIT),
    ("/components/schemas/Referrers/properties/referrers/maxItems", admin_views.MAX_LIMIT),
    (
        "/paths/~1v1~1admin~1sites~1{site}~1online/get/parameters/0/schema/maximum",
        admin_views.MAX_ONLINE_HOURS,
    ),
]


@pytest.mark.parametrize(("pointer", "limit"), LIMITS, ids=[p for p, _ in LIMITS])
def test_the_document_states_the_limits_the_code_keeps(pointer: str, limit: int) -> None:
    assert at(pointer) == limit


def test_the_polls_listed_setting_keeps_the_documented_range() -> None:
    assert (
        Settings.from_env({"COUNTER_POLLS_LISTED": str(POLLS_LISTED_MAX)}).polls_listed
        == POLLS_LISTED_MAX
    )
    with pytest.raises(ValueError, match="COUNTER_POLLS_LISTED"):
        Settings.from_env({"COUNTER_POLLS_LISTED": str(POLLS_LISTED_MAX + 1)})


def test_operations_describe_themselves() -> None:
    for method, path, operation in operations():
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
        assert operation["responses"], (method, path)


async def test_the_document_is_served_to_any_origin_and_cacheable(client: Client) -> None:
    resp = await client.get(
        "/v1/openapi.json",
        headers={"Origin": "https://elsewhere.example", "Accept-Encoding": "identity"},
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cache-Control"].startswith("public")
    assert await resp.json() == DOCUMENT
    again = await client.get(
        "/v1/openapi.json",
        headers={"If-None-Match": resp.headers["ETag"], "Accept-Encoding": "identity"},
    )
    assert again.status == 304


async def test_the_document_is_served_gzipped_when_accepted(client: Client) -> None:
    resp = await client.get(
        "/v1/openapi.json", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(await resp.read())) == DOCUMENT


async def test_the_document_is_read_once_never_per_request(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(name: str) -> bytes:
        raise AssertionError(f"{name} read while serving a request")

    monkeypatch.setattr(openapi, "read_static", unreadable)
    resp = await client.get("/v1/openapi.json")
    assert resp.status == 200
    assert await resp.json() == DOCUMENT


def test_a_broken_document_is_refused_when_it_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openapi, "read_static", lambda name: b'{"swagger": "2.0"}')
    with pytest.raises(ValueError, match=r"not an OpenAPI 3\.1 document"):
        openapi.load_document()
