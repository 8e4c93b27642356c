"""Tests of the shipped test tools, twilio_media_async.testing: one module per topic."""
