# The ledger as a container: `ledger serve` as an unprivileged user, the package and its static
# assets (console templates and stylesheet, policy files, region data) inside, nothing fetched at
# run time. Build: docker build -t ledger .   Run: see deploy/compose.yaml and the README.

# Stage 1: the wheels, built where a compiler and the package index are at hand.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: the service, from those wheels alone (no index at install: --no-index).
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/ledger --create-home ledger
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels enrollment-ledger \
    && rm -rf /wheels
USER ledger
WORKDIR /var/lib/ledger
# SQLite by default in the volume; set LEDGER_DATABASE_URL for PostgreSQL (deploy/compose.yaml).
ENV LEDGER_DB=/var/lib/ledger/ledger.db \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/ledger"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["ledger"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--log-format", "json"]
