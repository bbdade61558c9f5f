"""Health endpoints for load balancers and orchestrators.

/health and /liveness: the process answers. /ready: the database and, where configured, Redis
answer; otherwise 503 naming what failed. Each check has its own short timeouts, so /ready
answers within a few seconds even when an address does not answer at all (a probe that hangs
is a failed probe, and it holds a server thread meanwhile).
"""

import psycopg
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

#: Seconds a check may take to connect, and then to run (psycopg's shortest connect_timeout).
CHECK_TIMEOUT = 2


@never_cache
@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        if connection.vendor == "postgresql":
            _check_postgresql()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; say which
        return f"{type(error).__name__}: {error}".strip()[:200]
    return None


def _check_postgresql() -> None:
    """SELECT 1 over a connection of its own with a connect and a statement timeout: the
    request's connection may come from a pool that waits for a free one, or connect with
    the URL's timeout (or psycopg's two minutes)."""
    params = connection.get_connection_params()
    params["connect_timeout"] = CHECK_TIMEOUT
    options = params.get("options", "")
    params["options"] = f"{options} -c statement_timeout={CHECK_TIMEOUT * 1000}".strip()
    with psycopg.connect(**params, autocommit=True) as checked:
        checked.execute("SELECT 1")


def _check_redis() -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        client.close()
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200]
    return None


@never_cache
@require_GET
def readiness(request):
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {name: (failed.get(name) or "ok") for name in checks},
    }
    return JsonResponse(body, status=503 if failed else 200)
