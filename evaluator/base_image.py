"""The local base image algorithms are built from (``scripts/provision.sh`` builds it once
per machine; no registry is needed). ``SEGARENA_BASE_IMAGE`` names another."""

from __future__ import annotations

import os

DEFAULT = "segarena/base:bookworm-v2"


def local_base_image() -> str:
    """The base image's name: ``SEGARENA_BASE_IMAGE`` or :data:`DEFAULT`."""
    return os.environ.get("SEGARENA_BASE_IMAGE", DEFAULT)
