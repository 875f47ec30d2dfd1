"""Interop tests against the real icechunk wheels (see ``harness.py``)."""
