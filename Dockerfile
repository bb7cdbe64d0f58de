# syntax=docker/dockerfile:1
#
# Settlement service image.  Build from the repository root:
#
#     docker build -t settle:latest .
#
# The image runs `python -m app serve`.  It does NOT migrate the database at start: run
# `python -m app migrate` once per release, before the new pods/containers take traffic
# (deploy/compose.yaml has a `migrate` service, deploy/k8s a `settle-migrate` Job).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: install the project and its dependencies into a self-contained venv ---------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies first, from the lock (every version and file hash that CI tested), in a layer
# of their own that a change to app/ does not rebuild.
COPY requirements/runtime.txt requirements/build.txt ./requirements/
RUN pip install --require-hashes -r requirements/runtime.txt -r requirements/build.txt
# README.md is the project's `readme`; the glob lets the build go on while it is absent.
COPY pyproject.toml README.md* ./
COPY app ./app
# A regular (non-editable) install of the project alone (--no-deps: nothing outside the lock),
# built by the locked setuptools (--no-build-isolation: pip would otherwise fetch one unchecked):
# the code, the Alembic migrations and the sample data all land in
# /opt/venv/lib/python3.11/site-packages, so /src is not needed at run time.
RUN pip install --no-deps --no-build-isolation . \
 && pip check \
 && cd / \
 && python -c "import app.db.migrate as m; assert (m.HERE / 'migrations' / 'versions').is_dir(), m.HERE"

# --- runtime: the venv only, as an unprivileged user --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 settle \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin settle

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1
ENV SETTLE_HOST=0.0.0.0 SETTLE_PORT=8000 SETTLE_WORKERS=2

# Nothing here is writable by the service: it also runs with a read-only root filesystem.
WORKDIR /app
USER 10001:10001

EXPOSE 8000

# slim has no curl: ask /healthz with the standard library (non-2xx or no answer -> exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('SETTLE_PORT', '8000') + '/healthz', timeout=3)"]

# uvicorn gets SIGTERM and finishes in-flight requests before it exits.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app", "serve"]
