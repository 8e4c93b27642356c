"""``python -m twilio_media_async.testing``: serve a fake Twilio Media API until Ctrl-C."""

import sys

from ._runner import main

if __name__ == "__main__":
    sys.exit(main())
