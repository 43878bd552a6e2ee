# autoposter: the daemon in a container. The database lives in the /data volume,
# the configuration is mounted read-only at /etc/autoposter/autoposter.yaml, and
# secrets come from /run/secrets through the config's `<key>_file:` form.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoposter ./autoposter
RUN python -m venv /opt/autoposter \
    && /opt/autoposter/bin/pip install --no-cache-dir ".[postgresql]"

FROM python:3.11-slim
LABEL org.opencontainers.image.title="autoposter" \
      org.opencontainers.image.description="Posts each new item of an institution's website to its social accounts, exactly once." \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin autoposter \
    && mkdir -p /data /etc/autoposter \
    && chown autoposter /data
COPY --from=build /opt/autoposter /opt/autoposter
ENV PATH="/opt/autoposter/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    AUTOPOSTER_CONFIG=/etc/autoposter/autoposter.yaml
WORKDIR /data
VOLUME ["/data"]
USER autoposter
# SIGTERM lets the job in flight finish, then autoposter exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["autoposter"]
CMD ["run"]
