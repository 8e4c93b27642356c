"""Peak memory of one large recording streamed into object storage.

The parent serves a recording of ``--mib`` MiB from a FakeMediaServer and runs moto's S3
server, both on 127.0.0.1; a child process archives it with ``download_many`` into
``s3://bench/...`` and reports its own RSS high-water mark before and after the transfer.
The object is then checked by its sha256 (streamed back from the bucket).  Run:

    python -m bench.cloud_memory --mib 1024
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time

_CHILD = r"""
import asyncio, json, resource, sys, time
from twilio_media_async import MediaClient

import os
PAGE = os.sysconf("SC_PAGE_SIZE")

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / (1 << 20)

async def sample(seen):
    while True:
        seen.append(rss_mib())
        await asyncio.sleep(0.05)

async def main(kwargs, sid, url):
    async with MediaClient(**kwargs) as client:
        before, start_rss, seen = peak_mib(), rss_mib(), []
        sampler = asyncio.create_task(sample(seen))
        start = time.perf_counter()
        results = [r async for r in client.download_many([sid], url)]
        wall = time.perf_counter() - start
        sampler.cancel()
    [r] = results
    print(json.dumps({"ok": r.ok, "error": str(r.error), "sha256": r.sha256, "bytes": r.bytes,
                      "peak_before_mib": before, "peak_after_mib": peak_mib(),
                      "rss_at_start_mib": start_rss, "rss_max_during_mib": max(seen),
                      "samples": len(seen), "wall": wall}))

asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]))
"""


async def main() -> None:
    import boto3
    import orjson
    from moto.server import ThreadedMotoServer

    from twilio_media_async.testing import FakeMediaServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.mib << 20
    sid = "KV" + "ab" * 16
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    s3.create_bucket(Bucket="bench")
    recording = {"sid": sid, "status": "completed", "format": "mp4", "media_size": size}
    try:
        async with FakeMediaServer(recordings=[recording]) as server:
            expected = server.media_sha256(sid)
            kwargs = orjson.dumps(server.client_kwargs()).decode()
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CHILD, kwargs, sid, "s3://bench/memory/",
                env=env, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await child.communicate()
        report = orjson.loads(out)
        start = time.perf_counter()
        digest = hashlib.sha256()
        body = s3.get_object(Bucket="bench", Key=f"memory/{sid}.mp4")["Body"]
        while chunk := body.read(8 << 20):
            digest.update(chunk)
        report["object_sha256_matches"] = digest.hexdigest() == expected == report["sha256"]
        report["check_wall"] = time.perf_counter() - start
        report["mib"] = args.mib
        print(orjson.dumps(report).decode())
    finally:
        moto.stop()


if __name__ == "__main__":
    asyncio.run(main())
