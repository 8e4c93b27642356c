"""FakeMediaServer's answers, validated against Twilio's official OpenAPI spec.

The spec is the copy kept in ``tests/spec/`` (see ``tests/spec/SOURCE.md``), so these tests
always run; ``TWILIO_MEDIA_SPEC`` may point them at another copy.  Error bodies are not
described by the spec, so only the 2xx answers are checked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from twilio_media_async.testing import FakeMediaServer, make_recordings

SPEC_ENV = "TWILIO_MEDIA_SPEC"
BUNDLED_SPEC = Path(__file__).parent / "spec" / "twilio_media_v1.json"
SPEC_URI = "urn:twilio:media:v1"
RECORDING_SCHEMA = "#/components/schemas/media.v1.media_recording"
LIST_PATH = "/v1/MediaRecordings"
ITEM_PATH = "/v1/MediaRecordings/{Sid}"

Validate = Callable[[Any], None]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = Path(os.environ.get(SPEC_ENV) or BUNDLED_SPEC)
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    assert data["info"]["version"] == "1.55.2", "these tests were written against 1.55.2"
    return data


def test_the_bundled_spec_is_the_unmodified_copy() -> None:
    """The spec in tests/spec is byte for byte the file SOURCE.md names (by its sha256)."""
    source = (BUNDLED_SPEC.parent / "SOURCE.md").read_text()
    digest = hashlib.sha256(BUNDLED_SPEC.read_bytes()).hexdigest()
    assert f"`{BUNDLED_SPEC.name}` sha256 `{digest}`" in source
    assert (BUNDLED_SPEC.parent / "LICENSE").read_text().startswith("MIT License")


def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _format_checker() -> FormatChecker:
    """The OAS 3.0 formats (date-time included), plus ``uri``, which it leaves out."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(oas30_format_checker.checkers)
    checker.checks("uri")(_uri)
    return checker


@pytest.fixture(scope="module")
def validator_for(spec: dict[str, Any]) -> Callable[[str], Validate]:
    """A validator for a JSON pointer into the spec; its ``$ref``s resolve within the spec."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4)
    )
    checker = _format_checker()

    def make(pointer: str) -> Validate:
        validator = OAS30Validator(
            {"$ref": f"{SPEC_URI}{pointer}"}, registry=registry, format_checker=checker
        )

        def validate(instance: Any) -> None:
            errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
            assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

        return validate

    return make


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _response_schema_pointer(path: str, method: str, status: str) -> str:
    return _pointer(
        "paths", path, method, "responses", status, "content", "application/json", "schema"
    )


pytestmark = pytest.mark.fake_media_server(generate=30, seed=4)


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return orjson.loads(await resp.read())


def test_validator_checks_patterns_enums_and_formats(
    validator_for: Callable[[str], Validate],
) -> None:
    """A guard for the guard: the validator really rejects what the spec forbids."""
    validate = validator_for(RECORDING_SCHEMA)
    good = orjson.loads(
        orjson.dumps({"sid": "KV" + "a" * 32, "date_created": "2024-01-01T00:00:00Z"})
    )
    validate(good)
    for bad in (
        {"sid": "KX" + "a" * 32},
        {"status": "archived"},
        {"format": "avi"},
        {"duration": "12"},
        {"media_size": 1.5},
        {"date_created": "yesterday"},
        {"date_updated": "2024-13-01T00:00:00Z"},
        {"url": "not a url"},
        {"status_callback_method": "FETCH"},
    ):
        with pytest.raises(AssertionError):
            validate(bad)


async def test_fetch_body_matches_the_spec(
    spec: dict[str, Any],
    validator_for: Callable[[str], Validate],
    fake_media_server: FakeMediaServer,
    raw_http: aiohttp.ClientSession,
) -> None:
    validate = validator_for(_response_schema_pointer(ITEM_PATH, "get", "200"))
    properties = spec["components"]["schemas"]["media.v1.media_recording"]["properties"]
    for sid in fake_media_server.sids:
        body = await _get(raw_http, f"{LIST_PATH}/{sid}")
        validate(body)
        # The spec does not forbid extra keys, but fidelity does: the keys are the spec's
        # properties exactly (media_size, no size and no bitrate).
        assert set(body) == set(properties), set(body) ^ set(properties)
    assert set(spec["paths"][ITEM_PATH]["get"]["responses"]) == {"200"}


async def test_fetch_of_sparse_recordings_matches_the_spec(
    validator_for: Callable[[str], Validate],
    fake_media_server: FakeMediaServer,
    raw_http: aiohttp.ClientSession,
) -> None:
    """Nullable fields the spec allows as null come out as null."""
    validate = validator_for(RECORDING_SCHEMA)
    sid = "KV" + "c" * 32
    fake_media_server.add(
        {"sid": sid, "duration": None, "links": None, "resolution": None, "url": None}
    )
    body = await _get(raw_http, f"{LIST_PATH}/{sid}")
    assert body["duration"] is None and body["links"] is None
    # format, status and status_callback_method are null too, but the spec cannot say
    # so: for the first two "nullable" sits beside a $ref (ignored in OAS 3.0), and the
    # third is an enum without null (OAS 3.0.3: nullable does not extend an enum).
    enums = ("format", "status", "status_callback_method")
    plain = {k: v for k, v in body.items() if k not in enums}
    validate(plain)


async def test_delete_answers_a_spec_status(
    spec: dict[str, Any], fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    async with raw_http.delete(f"{LIST_PATH}/{fake_media_server.sids[0]}") as resp:
        assert str(resp.status) in spec["paths"][ITEM_PATH]["delete"]["responses"]
        assert await resp.read() == b""


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?PageSize=7",
        "?PageSize=4&Order=asc&Status=completed",
        "?Order=desc&PageSize=1000",
    ],
)
async def test_list_pages_match_the_spec(
    spec: dict[str, Any],
    validator_for: Callable[[str], Validate],
    fake_media_server: FakeMediaServer,
    raw_http: aiohttp.ClientSession,
    query: str,
) -> None:
    validate = validator_for(_response_schema_pointer(LIST_PATH, "get", "200"))
    operation = spec["paths"][LIST_PATH]["get"]
    response_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    meta_keys = set(response_schema["properties"]["meta"]["properties"])
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    param_validators = {
        name: validator_for(_pointer("paths", LIST_PATH, "get", "parameters", str(i), "schema"))
        for i, p in enumerate(operation["parameters"])
        if (name := p["name"]) in parameters
    }

    url: str | None = f"{LIST_PATH}{query}"
    pages = 0
    while url:
        page = await _get(raw_http, url)
        validate(page)
        assert set(page) == set(response_schema["properties"])
        assert set(page["meta"]) == meta_keys
        assert page["meta"]["key"] == "media_recordings"
        for link in ("first_page_url", "next_page_url", "previous_page_url", "url"):
            if page["meta"][link] is not None:
                _check_query(page["meta"][link], parameters, param_validators)
        url = page["meta"]["next_page_url"]
        pages += 1
    assert pages >= 1


def _check_query(
    url: str, parameters: Mapping[str, Any], validators: Mapping[str, Validate]
) -> None:
    """Every query key of a page URL is one of the spec's parameters (capitalised as there),
    and its value is valid under that parameter's schema."""
    for name, raw in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        assert name in parameters, f"{name} is not a list parameter of the spec"
        value: Any = int(raw) if parameters[name].get("type") == "integer" else raw
        validators[name](value)


def test_generated_recordings_match_the_spec(validator_for: Callable[[str], Validate]) -> None:
    """make_recordings, unstructured in either shape, is valid under the recording schema."""
    from twilio_media_async import converter

    validate = validator_for(RECORDING_SCHEMA)
    for recording in make_recordings(300, seed=12):
        data = converter.unstructure(recording)
        validate({k: v for k, v in data.items() if k not in ("size", "bitrate")})
