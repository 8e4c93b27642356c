"""Benchmarks of twilio-media-async against raw aiohttp and twilio-python (``nox -s bench``)."""
