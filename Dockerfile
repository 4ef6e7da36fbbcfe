# One image for the API, the worker and migrations; the command picks the role.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Dependencies first, from the runtime lock only (exact versions, every file's sha256; nothing is
# resolved), so this layer is rebuilt only when the lock changes. It also pins setuptools, the
# project's build backend, for the --no-build-isolation install below.
COPY requirements/runtime.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY api ./api
COPY activities ./activities
COPY domain ./domain
COPY workflows ./workflows
COPY migrations ./migrations
COPY devstack ./devstack
COPY worker.py worker_sandbox.py cli.py alembic.ini ./
RUN pip install --no-deps --no-build-isolation . && useradd --system --uid 10001 cinema
USER cinema
EXPOSE 8001
CMD ["granian", "--interface", "asgi", "--factory", "--host", "0.0.0.0", "--port", "8001", \
     "--workers", "2", "api.asgi:create_app_from_env"]
