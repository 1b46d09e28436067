# The segarena platform image: API, pages and evaluation worker in one image.
#   serve:  docker run -v /var/run/docker.sock:/var/run/docker.sock -v DATA:/data -p 8000:8000 IMG
#   worker: docker run ... IMG segarena worker
# BASE is any Debian-based image with python3 >= 3.11. Where no registry is reachable, build
# with a local base (scripts/build-platform-image.sh does: --build-arg BASE=segarena/base:bookworm-v2).
# Python packages come from docker-wheels/ (filled on the host by the build script), so the
# build needs no access to PyPI from inside the container.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends python3-venv python3-pip \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && python3 -m venv /opt/segarena \
 && useradd --system --create-home --uid 10001 segarena \
 && mkdir -p /data && chown segarena /data

# docker-wheels/ holds segarena's own wheel and every dependency's (scripts/build-platform-image.sh)
COPY docker-wheels/ /wheels/
RUN /opt/segarena/bin/pip install --no-cache-dir --no-index --find-links /wheels segarena \
 && rm -rf /wheels

ENV PATH=/opt/segarena/bin:$PATH \
    SEGARENA_DATABASE_URL=sqlite:////data/segarena.db \
    SEGARENA_STORAGE_ROOT=/data/storage
WORKDIR /data
EXPOSE 8000
# The worker talks to the host's Docker engine through its socket, which needs root or the
# socket's group; run as root only when the socket is mounted (see README).
CMD ["segarena", "serve", "--host", "0.0.0.0", "--port", "8000"]
