"""``image_archives`` lives in tests/conftest.py (the reliability tests use it too)."""
