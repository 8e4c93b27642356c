"""Per-object structuring cost: JSON bytes to a frozen MediaRecording.

``python -m bench.structuring`` prints µs per object, with timeit, for the SDK's path
(orjson, then ``structure_recording`` with every check) next to a bare ``orjson.loads`` of
the same body, and what one bulk result costs: ``FetchResult``'s keyword ``__init__``
against ``fetched``, the plain-store build fetch_many uses.

``python -m bench.structuring --instructions`` counts instructions instead, with valgrind
(which must be installed): ``structure_recording`` alone, per object, over distinct bodies
as a bulk run sees them, the JSON decoding and the loop taken out.  Unlike the timing, the
count repeats to 0.1 % on a loaded machine.
"""

from __future__ import annotations

import argparse
import timeit
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench.instructions import callgrind_count
from bench.server import TEMPLATE
from twilio_media_async import FetchResult
from twilio_media_async._converter import loads_json, structure_recording
from twilio_media_async._results import fetched

BODY = TEMPLATE.replace(b"{SID}", b"KV0123456789abcdef0123456789abcdef")
HERE = Path(__file__).resolve().parent.parent


def timed(number: int = 200_000, repeat: int = 5) -> None:
    """Print the best of ``repeat`` runs of ``number`` conversions each."""
    sdk = min(
        timeit.repeat(
            lambda: structure_recording(loads_json(BODY), BODY), number=number, repeat=repeat
        )
    )
    bare = min(timeit.repeat(lambda: orjson.loads(BODY), number=number, repeat=repeat))
    print(f"bytes -> MediaRecording: {sdk / number * 1e6:.2f} µs per object ({len(BODY)} bytes)")
    print(f"orjson.loads alone:      {bare / number * 1e6:.2f} µs per object")
    recording = structure_recording(loads_json(BODY), BODY)
    init = min(
        timeit.repeat(
            lambda: FetchResult(sid="KV", recording=recording, attempts=1, request_id="RQ"),
            number=number,
            repeat=repeat,
        )
    )
    built = min(
        timeit.repeat(lambda: fetched("KV", recording, 1, "RQ"), number=number, repeat=repeat)
    )
    print(f"FetchResult(...):        {init / number * 1e6:.2f} µs per result")
    print(f"fetched(...):            {built / number * 1e6:.2f} µs per result")


def convert(structure: bool, n: int) -> None:
    """Decode ``n`` distinct bodies, and structure each when ``structure``."""
    sids = [f"KV{i:032x}" for i in range(n)]
    bodies = [TEMPLATE.replace(b"{SID}", sid.encode()) for sid in sids]
    for sid, body in zip(sids, bodies, strict=True):
        data = loads_json(body)
        if structure:
            structure_recording(data, body, sid)


def count(structure: bool, n: int) -> int:
    """Instructions of one ``convert`` run under valgrind, start to exit."""
    mode = "structure" if structure else "decode"
    return callgrind_count(["-m", "bench.structuring", "--run", mode, str(n)], HERE)


def instructions(n1: int = 1000, n2: int = 6000) -> None:
    """Print the instructions ``structure_recording`` costs per object."""
    runs = [(True, n2), (True, n1), (False, n2), (False, n1)]
    with ThreadPoolExecutor(2) as pool:
        s2, s1, d2, d1 = pool.map(lambda run: count(*run), runs)
    structured, decoded = s2 - s1, d2 - d1
    print(f"orjson.loads:        {decoded / (n2 - n1) / 1000:.2f} k instructions per object")
    print(
        f"structure_recording: {(structured - decoded) / (n2 - n1) / 1000:.2f} k instructions "
        "per object"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--run", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        convert(args.run[0] == "structure", int(args.run[1]))
    elif args.instructions:
        instructions()
    else:
        timed()


if __name__ == "__main__":
    main()
