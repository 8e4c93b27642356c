"""Observability: a DEBUG line per attempt, trace_configs on the client's own session, and
OpenTelemetry's aiohttp instrumentation (a span per attempt, no credential in any
attribute), against a FakeMediaServer."""

from __future__ import annotations

import logging
import re
import types
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import (
    AioHttpClientInstrumentor,
    create_trace_config,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from twilio_media_async import (
    InvalidParameterError,
    MediaClient,
    RequestTimeoutError,
    RetryPolicy,
)
from twilio_media_async import _engine as engine_module
from twilio_media_async._redact import secret_forms
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, client_for

LOGGER = "twilio_media_async"
ATTEMPT_LINE = re.compile(
    r"(?P<method>[A-Z]+) (?P<path>\S+) -> (?P<outcome>\S+) in (?P<ms>\d+\.\d) ms "
    r"\(attempt (?P<attempt>\d+), request id (?P<request_id>\S+)\)\Z"
)
SECRETS = (*secret_forms(ACCOUNT_SID, AUTH_TOKEN), *secret_forms(API_KEY, API_SECRET))


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """The per-attempt DEBUG lines, parsed."""
    lines = []
    for record in caplog.records:
        if record.name == LOGGER and record.levelno == logging.DEBUG:
            match = ATTEMPT_LINE.match(record.getMessage())
            if match:
                lines.append(match.groupdict())
    return lines


def server_with_keys(**kwargs: Any) -> FakeMediaServer:
    return FakeMediaServer(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_keys={API_KEY: API_SECRET},
        generate=10,
        seed=2,
        **kwargs,
    )


# -- the DEBUG line per attempt --------------------------------------------------------------


async def test_each_attempt_is_logged_with_status_time_attempt_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with server_with_keys() as server:
        sid = server.sids[0]
        server.script(sid, [Fault.server_error(503), None])
        async with client_for(server) as client:
            await client.fetch(sid)
        sent = server.requests
    lines = attempt_lines(caplog)
    path = f"/v1/MediaRecordings/{sid}"
    assert [(x["method"], x["path"], x["outcome"], x["attempt"]) for x in lines] == [
        ("GET", path, "503", "1"),
        ("GET", path, "200", "2"),
    ]
    assert [x["request_id"] for x in lines] == [r.request_id for r in sent]
    assert all(float(x["ms"]) >= 0 for x in lines)


async def test_every_kind_of_call_logs_each_of_its_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with server_with_keys(latency=0.0) as server:
        sids = server.sids
        server.script(sids[1], [Fault.truncated(), None])  # a reset could be resent unseen
        server.script(sids[2], [Fault.latency(1.0), None])
        async with client_for(server, timeout=0.3) as client:
            results = [r async for r in client.fetch_many(sids[1:5])]
            _ = [r async for r in client.list(page_size=3, limit=4)]
            await client.delete(sids[6])
        sent = server.requests
    assert all(r.ok for r in results)
    lines = attempt_lines(caplog)
    assert len(lines) == len(sent) == sum(r.attempts for r in results) + 2 + 1
    outcomes = {(x["path"], x["attempt"]): x["outcome"] for x in lines}
    assert outcomes[(f"/v1/MediaRecordings/{sids[1]}", "1")] == "TransportError"
    assert outcomes[(f"/v1/MediaRecordings/{sids[1]}", "2")] == "200"
    assert outcomes[(f"/v1/MediaRecordings/{sids[2]}", "1")] == RequestTimeoutError.__name__
    assert outcomes[("/v1/MediaRecordings?PageSize=3", "1")] == "200"
    assert any(p.startswith("/v1/MediaRecordings?") and "PageToken" in p for p, _ in outcomes)
    assert outcomes[(f"/v1/MediaRecordings/{sids[6]}", "1")] == "204"
    failed = [x for x in lines if x["outcome"] in ("TransportError", "RequestTimeoutError")]
    assert all(x["request_id"] == "none" for x in failed)  # no answer, no id


@pytest.mark.parametrize("auth", ["token", "api_key"])
async def test_no_log_line_at_any_level_holds_a_credential(
    caplog: pytest.LogCaptureFixture, auth: str
) -> None:
    caplog.set_level(logging.DEBUG)  # aiohttp's own loggers too
    credentials: dict[str, Any] = (
        {"auth_token": AUTH_TOKEN}
        if auth == "token"
        else {"api_key": API_KEY, "api_secret": API_SECRET}
    )
    async with server_with_keys() as server:
        server.script(server.sids[0], [Fault.server_error(502, html=True), None])
        server.script(server.sids[1], [Fault.rate_limited(0), None])
        client = MediaClient(
            ACCOUNT_SID, base_url=server.url, retry=RetryPolicy.no_wait(), **credentials
        )
        async with client:
            _ = [r async for r in client.fetch_many(server.sids[:4])]
            await client.fetch(server.sids[5])
    messages = [r.getMessage() for r in caplog.records]
    assert len(attempt_lines(caplog)) == 4 + 2 + 1  # four items, two retries, one fetch
    for message in messages:
        for secret in SECRETS:
            assert secret not in message


async def test_with_debug_off_no_attempt_is_timed_or_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard is the whole cost when DEBUG is off: the logging wrapper, which times the
    attempt, is never entered."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    entered: list[int] = []
    real = engine_module._logged

    def spy(*args: Any) -> Any:
        entered.append(1)
        return real(*args)

    monkeypatch.setattr(engine_module, "_logged", spy)
    async with server_with_keys() as server:
        server.script(server.sids[0], [Fault.server_error(503), None])
        async with client_for(server) as client:
            await client.fetch(server.sids[0])
            _ = [r async for r in client.fetch_many(server.sids[1:6])]
            assert entered == []
            assert attempt_lines(caplog) == []
            caplog.set_level(logging.DEBUG, logger=LOGGER)  # and on again
            await client.fetch(server.sids[7])
    assert entered == [1]
    assert len(attempt_lines(caplog)) == 1


# -- trace_configs -----------------------------------------------------------------------------


def counting_trace_config() -> tuple[aiohttp.TraceConfig, list[str]]:
    seen: list[str] = []

    async def on_start(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(f"start {params.method} {params.url.path}")

    async def on_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append(f"end {params.response.status}")

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    return config, seen


async def test_trace_configs_see_every_attempt_of_the_clients_own_session() -> None:
    config, seen = counting_trace_config()
    async with server_with_keys() as server:
        sid = server.sids[0]
        server.script(sid, [Fault.server_error(503), None])
        async with client_for(server, trace_configs=[config]) as client:
            await client.fetch(sid)
    path = f"/v1/MediaRecordings/{sid}"
    assert seen == [f"start GET {path}", "end 503", f"start GET {path}", "end 200"]


async def test_trace_configs_with_a_borrowed_session_are_refused() -> None:
    config, _ = counting_trace_config()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(InvalidParameterError, match="ClientSession\\(trace_configs=") as info:
            MediaClient(ACCOUNT_SID, AUTH_TOKEN, session=session, trace_configs=[config])
    assert "borrowed" in str(info.value)


@pytest.mark.parametrize("value", [aiohttp.TraceConfig(), ["not a trace config"], "x"])
def test_trace_configs_must_be_a_list_of_trace_configs(value: Any) -> None:
    with pytest.raises(InvalidParameterError, match="trace_configs"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, trace_configs=value)


async def test_a_borrowed_sessions_own_trace_configs_see_the_clients_requests() -> None:
    config, seen = counting_trace_config()
    async with server_with_keys() as server, aiohttp.ClientSession(trace_configs=[config]) as s:
        async with client_for(server, session=s) as client:
            await client.fetch(server.sids[0])
    assert [event.split()[0] for event in seen] == ["start", "end"]


# -- OpenTelemetry -------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def every_text_of(span: ReadableSpan) -> list[str]:
    """The name, and every key and value of every attribute, event and link of a span, and
    of its resource."""
    texts = [span.name, str(span.status.description or "")]
    attribute_sets = [span.attributes or {}, span.resource.attributes]
    attribute_sets += [event.attributes or {} for event in span.events]
    attribute_sets += [link.attributes or {} for link in span.links]
    texts += [event.name for event in span.events]
    for attributes in attribute_sets:
        for key, value in attributes.items():
            texts += [str(key), str(value)]
    return texts


def url_of(span: ReadableSpan) -> object:
    attributes = span.attributes or {}  # the old semantic conventions, or the new ones
    return attributes.get("url.full", attributes.get("http.url"))


def status_of(span: ReadableSpan) -> object:
    attributes = span.attributes or {}
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


async def test_opentelemetry_records_a_span_per_attempt_without_credentials(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    config = create_trace_config(tracer_provider=provider)
    async with server_with_keys() as server:
        sids = server.sids
        server.script(sids[0], [Fault.server_error(503), Fault.rate_limited(0), None])
        server.script(sids[1], [Fault.truncated(), None])
        client = MediaClient(
            ACCOUNT_SID,
            AUTH_TOKEN,
            base_url=server.url,
            retry=RetryPolicy.no_wait(),
            trace_configs=[config],
        )
        async with client:
            await client.fetch(sids[0])
            results = [r async for r in client.fetch_many(sids[1:5])]
            await client.delete(sids[6])
        sent = len(server.requests)
    assert all(r.ok for r in results)
    finished = exporter.get_finished_spans()
    # A span per attempt (aiohttp's own silent resend of a GET on a dropped keep-alive
    # connection would share its attempt's span: it is inside one session.request).
    assert len(finished) == sent == 3 + 5 + 1
    first = [s for s in finished if sids[0] in str(url_of(s))]
    assert [status_of(s) for s in first] == [503, 429, 200]
    assert sorted(s.name for s in finished).count("DELETE") == 1
    for span in finished:
        for text in every_text_of(span):
            for secret in SECRETS:
                assert secret not in text, f"{secret!r} in a span of {span.name}"


async def test_opentelemetrys_global_instrumentor_traces_the_clients_own_session(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        async with server_with_keys() as server:
            server.script(server.sids[0], [Fault.server_error(500), None])
            async with client_for(server) as client:  # its session is created after instrument()
                await client.fetch(server.sids[0])
    finally:
        instrumentor.uninstrument()
    finished = exporter.get_finished_spans()
    assert [status_of(s) for s in finished] == [500, 200]
    for span in finished:
        for text in every_text_of(span):
            for secret in SECRETS:
                assert secret not in text
