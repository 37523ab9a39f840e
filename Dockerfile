# reconcile as a container: `reconcile run` (the scheduled batch job) as the entrypoint.
# Slim Python base, dependencies installed once in a build stage, the tool run as a
# non-root user; the warehouse lives on a volume at /data, the config at
# /etc/reconcile/reconcile.toml (deploy/kubernetes/). Build: docker build -t reconcile .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconcile ./reconcile
COPY connectors ./connectors
COPY queries ./queries
RUN python -m venv /opt/reconcile \
    && /opt/reconcile/bin/pip install --no-cache-dir --upgrade "pip>=24,<27" \
    && /opt/reconcile/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
COPY --from=build /opt/reconcile /opt/reconcile
RUN groupadd --system --gid 10001 reconcile \
    && useradd --system --uid 10001 --gid reconcile --home-dir /data --no-create-home reconcile \
    && mkdir -p /data /etc/reconcile \
    && chown reconcile:reconcile /data
ENV PATH="/opt/reconcile/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RECONCILE_DB=/data/reconcile.duckdb \
    RECONCILE_CONFIG=/etc/reconcile/reconcile.toml \
    RECONCILE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["reconcile"]
CMD ["run", "--lock-timeout", "300"]
