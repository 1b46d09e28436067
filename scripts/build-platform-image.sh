#!/usr/bin/env bash
# Build the platform image (Dockerfile) from the local base image, with wheels built here.
#   scripts/build-platform-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-segarena/platform:dev}"
BASE="${SEGARENA_BASE_IMAGE:-segarena/base:bookworm-v2}"
PY="${SEGARENA_VENV:-.venv}/bin/python"
[ -x "$PY" ] || PY=python3
rm -f docker-wheels/segarena-*.whl  # always the working tree's own code
"$PY" -m pip wheel -q --wheel-dir docker-wheels . >/dev/null
# Markers are evaluated for this interpreter; the image's may be older (Debian 12: 3.11.2,
# for which redis also needs async-timeout).
"$PY" -m pip wheel -q --wheel-dir docker-wheels 'async-timeout>=4.0.3' >/dev/null
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE" -t "$TAG" . >/dev/null
echo "$TAG"
