"""The implementation of the ``twilio-media`` command (``twilio_media_async.cli``).

Only this package and ``twilio_media_async.cli`` import click and rich; the SDK core never
does, so the ``cli`` extra stays optional.
"""
