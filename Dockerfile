# One image for the API, the worker and migrations; the command picks the role.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY activities ./activities
COPY domain ./domain
COPY workflows ./workflows
COPY migrations ./migrations
COPY devstack ./devstack
COPY worker.py cli.py alembic.ini ./
RUN pip install . && useradd --system --uid 10001 cinema
USER cinema
EXPOSE 8001
CMD ["granian", "--interface", "asgi", "--factory", "--host", "0.0.0.0", "--port", "8001", \
     "--workers", "2", "api.asgi:create_app_from_env"]
