# syntax=docker/dockerfile:1
# rolefit image: gunicorn serving service.wsgi:app as a non-root user.
# Migrations are a separate step, run once per deploy before the new image takes traffic:
#   docker run --rm -e ROLEFIT_DATABASE_URL=... rolefit rolefit db upgrade
# The webhook worker is the same image with another command (one or more containers; no port,
# so without the HTTP healthcheck; ROLEFIT_SECRET_KEY as the web containers have it):
#   docker run -d --no-healthcheck -e ROLEFIT_DATABASE_URL=... -e ROLEFIT_SECRET_KEY=... \
#     rolefit rolefit worker --metrics-address 0.0.0.0:9101
# It stops gracefully on SIGTERM (docker stop): give it over 10 s (--time 15), the longest
# delivery.
# This image is the application server: gunicorn's sync workers must not face clients. Publish
# it only behind a buffering proxy: the cluster's ingress (buffering on), or nginx as its own
# container running deploy/nginx.conf (a whole nginx.conf: render its placeholders with envsubst,
# as the file says, and start nginx -c on it), and set ROLEFIT_FORWARDED_ALLOW_IPS to the
# address the proxy connects from.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-compile .

FROM python:3.11.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROLEFIT_BIND=0.0.0.0:8000 \
    ROLEFIT_LOG_FORMAT=json \
    ROLEFIT_MIGRATIONS_DIR=/app/migrations \
    PROMETHEUS_MULTIPROC_DIR=/tmp/rolefit-metrics
RUN groupadd --system --gid 10001 rolefit \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app rolefit
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY migrations ./migrations
COPY alembic.ini gunicorn.conf.py ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py", "service.wsgi:app"]
