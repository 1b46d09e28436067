#!/usr/bin/env bash
# Idempotent machine setup for segarena's test suite and demo:
#   Debian packages (docker.io, debootstrap, chromium, wrk), a running dockerd, the local base
#   image (no registry is reachable here, so it is built with debootstrap and
#   imported once per machine, then reused by tag), and the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tag names the recipe: change it whenever the recipe below changes, so machines rebuild.
BASE_IMAGE="${SEGARENA_BASE_IMAGE:-segarena/base:bookworm-v2}"
VENV="${SEGARENA_VENV:-.venv}"

log() { printf '[provision] %s\n' "$*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # browser test of the pages
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)  # benchmarks/load_leaderboard.py
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)  # the pages' JavaScript packages
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A daemon that lost its default bridge (docker0) cannot start bridged containers or builds:
# restart it so it recreates the bridge.
if command -v ip >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
    && ! ip link show docker0 >/dev/null 2>&1; then
  log "dockerd has no docker0 bridge: restarting it"
  pkill -x dockerd || true
  for _ in $(seq 1 30); do pgrep -x dockerd >/dev/null || break; sleep 1; done
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  nohup dockerd >/var/log/segarena-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/segarena-dockerd.log"; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  # The machine's own Debian mirror (no host name is built in); apt-mirror.sh says why not.
  mirror="${SEGARENA_DEBIAN_MIRROR:-}"
  [ -n "$mirror" ] || mirror=$(bash scripts/apt-mirror.sh bookworm) \
    || { log "no Debian mirror for the base image (see above)"; exit 1; }
  log "building base image $BASE_IMAGE from $mirror (once per machine)"
  root=$(mktemp -d /var/tmp/segarena-base.XXXXXX)
  # Debian's python3-nibabel depends on scipy -> pythran -> g++ and boost (about 600 MB):
  # take numpy from Debian and nibabel's pure-Python wheel from PyPI instead.
  debootstrap --variant=minbase --include=python3-minimal,python3-numpy,python3-packaging \
    bookworm "$root" "$mirror" >/var/log/segarena-debootstrap.log 2>&1
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" 'nibabel==5.2.1'
  python3 -m zipfile -e "$wheels"/nibabel-*.whl "$root/usr/lib/python3/dist-packages/"
  rm -rf "$wheels" "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
  if ! docker run --rm --network none "$BASE_IMAGE" python3 -c "import numpy, nibabel"; then
    docker image rm -f "$BASE_IMAGE" >/dev/null 2>&1 || true
    log "the base image $BASE_IMAGE does not run python3 with numpy and nibabel"
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[dev]'

# The pages' JavaScript (htmx, tus-js-client, axe-core), exactly as package-lock.json pins it;
# no package script runs. Skipped when node_modules was installed from this very lock file.
stamp=node_modules/.segarena-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  log "installing the JavaScript packages (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund >/dev/null
  printf '%s\n' "$lock_hash" >"$stamp"
fi
log "ready: docker engine, $BASE_IMAGE, $VENV, node_modules"
