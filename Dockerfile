# syntax=docker/dockerfile:1
# The ANPR backend image: one image, several roles (compose.yaml picks the command):
# gunicorn (web, the default), daphne (websocket), celery worker, celery beat, migrate.

# --- build: install the pinned requirements into a virtualenv -------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# Every dependency ships wheels (psycopg[binary], Pillow): no compiler in either stage.
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# --- runtime: the virtualenv, the code and the collected static files, run as non-root ----
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=anpr.settings \
    DATA_DIR=/data \
    MEDIA_ROOT=/data/media \
    STATIC_ROOT=/app/staticfiles \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 anpr \
    && useradd --system --uid 10001 --gid anpr --home-dir /app --shell /usr/sbin/nologin anpr \
    && mkdir -p /data/media /app/staticfiles \
    && chown -R anpr:anpr /data /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The checkout less .dockerignore: no development tools (devtools/, tools/), so the image
# has no benchmark commands (settings install the devtools app only where it exists).
COPY --chown=anpr:anpr . /app
USER anpr
# Static files are part of the image (WhiteNoise serves them if no nginx is in front); the
# migrate service copies them into the volume nginx serves. The key is a throwaway for this step.
RUN SECRET_KEY=collectstatic-only DATA_DIR=/tmp/build python manage.py collectstatic --noinput \
    && rm -rf /tmp/build
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "anpr.wsgi"]
