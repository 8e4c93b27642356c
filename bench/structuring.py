"""Per-object structuring cost: JSON bytes to a frozen MediaRecording, with timeit.

``python -m bench.structuring`` prints µs per object for the SDK's path (orjson + cattrs
with every check) next to a bare ``orjson.loads`` of the same body.
"""

from __future__ import annotations

import timeit

import orjson

from bench.server import TEMPLATE
from twilio_media_async._converter import loads_json, structure_recording

BODY = TEMPLATE.replace(b"{SID}", b"KV0123456789abcdef0123456789abcdef")


def main(number: int = 200_000, repeat: int = 5) -> None:
    """Print the best of ``repeat`` runs of ``number`` conversions each."""
    sdk = min(
        timeit.repeat(
            lambda: structure_recording(loads_json(BODY), BODY), number=number, repeat=repeat
        )
    )
    bare = min(timeit.repeat(lambda: orjson.loads(BODY), number=number, repeat=repeat))
    print(f"bytes -> MediaRecording: {sdk / number * 1e6:.2f} µs per object ({len(BODY)} bytes)")
    print(f"orjson.loads alone:      {bare / number * 1e6:.2f} µs per object")


if __name__ == "__main__":
    main()
