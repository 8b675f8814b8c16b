# callplane: the wheel, installed in a slim Python image, run as an unprivileged user.
#
#   docker build -t callplane .
#   docker run --rm -p 8080:8080 -e CALLPLANE_DATABASE_URL=postgresql://… callplane serve
#   docker run --rm -e CALLPLANE_DATABASE_URL=postgresql://… callplane worker
#
# deploy/compose.yaml runs PostgreSQL, the migrations, two API replicas and two workers.

# Build stage: only the wheel comes out of it (no compilers or sources in the final image).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# pip builds the wheel with the build backend pyproject.toml names (hatchling), in isolation.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
# espeak-ng: the offline speech synthesizer the simulated audio line uses (optional at run time).
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/callplane --create-home callplane
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
# The alembic command line works with the image's own migrations against CALLPLANE_DATABASE_URL.
COPY alembic.ini /etc/callplane/alembic.ini
USER callplane
WORKDIR /var/lib/callplane
ENV PYTHONUNBUFFERED=1 \
    CALLPLANE_HOST=0.0.0.0 \
    CALLPLANE_PORT=8080 \
    CALLPLANE_LOG_FORMAT=json
EXPOSE 8080
# SIGTERM drains live calls (up to CALLPLANE_WORKER_SHUTDOWN_GRACE_S, 600 s by default): give
# the container that long to stop (`docker stop -t 630`, compose's stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
ENTRYPOINT ["callplane"]
CMD ["serve"]
