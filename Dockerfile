# autoposter: the daemon in a container.
#
#   docker build -t autoposter --build-arg VERSION="$(python -c 'import autoposter; print(autoposter.__version__)')" .
#   docker compose up -d          (see compose.yaml)
#
# The database lives in the /data volume; the configuration is mounted read-only at
# /etc/autoposter/autoposter.yaml; secrets come from /run/secrets through the config's
# `<key>_file:` form (access_token_file: /run/secrets/mastodon_token). /healthz and
# /metrics listen on port 8787. tests/test_deploy.py runs this file's install commands
# in a fresh virtualenv and the HEALTHCHECK against a running daemon.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the package is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY autoposter ./autoposter
RUN python -m venv /opt/autoposter \
    && /opt/autoposter/bin/python -m pip install --no-cache-dir ".[postgresql]"

FROM ${PYTHON_IMAGE}
ARG VERSION=unknown
LABEL org.opencontainers.image.title="autoposter" \
      org.opencontainers.image.description="Posts each new item of an institution's website to its social accounts, exactly once." \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 autoposter \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin autoposter \
    && mkdir -p /data /etc/autoposter \
    && chown 10001:10001 /data \
    && chmod 0750 /data
COPY --from=build /opt/autoposter /opt/autoposter
ENV PATH="/opt/autoposter/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUTOPOSTER_CONFIG=/etc/autoposter/autoposter.yaml \
    AUTOPOSTER_HTTP_LISTEN=0.0.0.0:8787
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8787
USER 10001:10001
# The slim image has no curl: Python asks /healthz, which answers 503 (an error here)
# when the scheduler is stuck or the database does not answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('AUTOPOSTER_HTTP_LISTEN', ':8787').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# SIGTERM lets the poll or post in flight finish, then autoposter exits 0; give it
# time to (docker stop -t 60, or stop_grace_period in compose.yaml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["autoposter"]
CMD ["run"]
