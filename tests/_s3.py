"""An S3-compatible server on loopback for the cloud tests: moto's server mode, a bucket
per test, the environment a user would set, and a faulty proxy that fails part uploads."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web

pytest.importorskip("obstore")
pytest.importorskip("moto")

import boto3
from moto.server import ThreadedMotoServer

SECRET: Final = "s3cr3t-AWS-key-that-must-never-show"
KEY_ID: Final = "AKIAEXAMPLEKEYID0001"
_buckets = itertools.count()


class S3:
    """A running moto server and a boto3 client of it (boto3 comes with moto)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The standard AWS environment that points obstore at this server."""
        return {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
        }

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"archive-{next(_buckets)}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket, sorted."""
        answer = self.client.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in answer.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def sha256(self, bucket: str, key: str) -> str:
        return hashlib.sha256(self.get(bucket, key)).hexdigest()

    def uploads(self, bucket: str) -> list[str]:
        """The keys of the multipart uploads still open in the bucket."""
        answer = self.client.list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in answer.get("Uploads", [])]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    """moto's S3 on 127.0.0.1, on a free port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The server, with the AWS environment set for this test."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@asynccontextmanager
async def failing_parts(endpoint: str, *, good_parts: int = 0) -> AsyncIterator[str]:
    """A proxy in front of ``endpoint`` that answers 500 to every part upload after the
    first ``good_parts``, and passes everything else on; its URL."""
    async with faulty_proxy(endpoint, good_parts=good_parts) as url:
        yield url


@asynccontextmanager
async def faulty_proxy(
    endpoint: str, *, good_parts: int | None = None, lying_sidecars: bool = False
) -> AsyncIterator[str]:
    """A proxy in front of ``endpoint``: with ``good_parts``, part uploads after that many
    answer 500; with ``lying_sidecars``, every sidecar read holds another sha256.  Its URL."""
    seen = itertools.count()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        part = request.method == "PUT" and "partNumber" in request.query
        if part and good_parts is not None and next(seen) >= good_parts:
            return web.Response(status=500, text="<Error><Code>InternalError</Code></Error>")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(
            request.method, endpoint + request.path_qs, headers=headers, data=body
        ) as answer:
            data = await answer.read()
            dropped: tuple[str, ...] = ("transfer-encoding", "content-encoding")
            if request.method != "HEAD":  # a HEAD's length is the object's, to pass on
                dropped += ("content-length",)
            out = {k: v for k, v in answer.headers.items() if k.lower() not in dropped}
        if lying_sidecars and request.method == "GET" and request.path.endswith(".sha256"):
            data = b"0" * 64 + data[64:]
        return web.Response(status=answer.status, body=data, headers=out)

    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
