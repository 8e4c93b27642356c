"""twilio-media-async: a fast, typed asyncio SDK for Twilio Media's MediaRecording resource.

```python
async with MediaClient(account_sid, auth_token) as client:
    recording = await client.fetch("KV0123456789abcdef0123456789abcdef")
```
"""

import logging

from ._config import RecordingFilters
from ._converter import converter
from ._results import DeleteResult, DownloadResult, FetchResult
from ._version import __version__
from .client import ClientOptions, MediaClient, fetch_recording
from .errors import (
    ApiError,
    AuthenticationError,
    ClientClosedError,
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    MediaIntegrityError,
    MediaUnavailableError,
    MediaWriteError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    TransportError,
    TwilioMediaError,
    WaitTimeoutError,
    WrongEventLoopError,
)
from .models import (
    HttpMethod,
    Links,
    MediaRecording,
    Page,
    RecordingFormat,
    RecordingOrder,
    RecordingStatus,
)
from .retry import RetryEvent, RetryPolicy

# A library stays silent unless its user configures logging: without a handler of its own,
# the package's warnings would reach stderr through logging's last-resort handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ClientClosedError",
    "ClientOptions",
    "DeleteResult",
    "DownloadResult",
    "FetchResult",
    "ForeignPageUrlError",
    "HttpMethod",
    "InvalidParameterError",
    "InvalidSidError",
    "Links",
    "MediaClient",
    "MediaIntegrityError",
    "MediaRecording",
    "MediaUnavailableError",
    "MediaWriteError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RecordingFilters",
    "RecordingFormat",
    "RecordingOrder",
    "RecordingStatus",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "TwilioMediaError",
    "WaitTimeoutError",
    "WrongEventLoopError",
    "__version__",
    "converter",
    "fetch_recording",
]
