"""Test helpers shipped with the SDK: a fake Twilio Media API server and a pytest plugin.

```python
from twilio_media_async import MediaClient
from twilio_media_async.testing import FakeMediaServer, Fault

async with FakeMediaServer(generate=100, seed=1) as server:
    sid = server.sids[0]
    server.script(sid, [Fault.rate_limited(retry_after=1), None])
    async with MediaClient(**server.client_kwargs()) as client:
        recording = await client.fetch(sid)       # a 429, then the recording
    assert server.attempts(sid) == 2
```

With pytest and pytest-asyncio installed, the ``fake_media_server`` and ``media_client``
fixtures are available without any import (see ``twilio_media_async.testing._plugin``).
``python -m twilio_media_async.testing --port 8080`` runs the server on its own.
"""

from ._data import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, make_recordings
from ._faults import DEFAULT_FAULT_KINDS, Fault, FaultKind
from ._records import RecordedRequest
from ._runner import OPTIONS as RUNNER_OPTIONS
from ._runner import RunnerOption, serve_forever, server_from_options
from ._server import DEFAULT_MEDIA_SIZE, ClientKwargs, FakeMediaServer, MediaAnswer
from ._storage import StorageFault, StorageFaultKind, StorageRequest, media_bytes, media_sha256
from ._store import PayloadShape

__all__ = [
    "ClientKwargs",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_FAULT_KINDS",
    "DEFAULT_MEDIA_SIZE",
    "FakeMediaServer",
    "Fault",
    "FaultKind",
    "MediaAnswer",
    "PayloadShape",
    "RUNNER_OPTIONS",
    "RecordedRequest",
    "RunnerOption",
    "StorageFault",
    "StorageFaultKind",
    "StorageRequest",
    "make_recordings",
    "media_bytes",
    "media_sha256",
    "serve_forever",
    "server_from_options",
]
