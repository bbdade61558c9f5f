"""Health endpoints for load balancers and orchestrators.

/health and /liveness: the process answers. /ready: the database and, where configured, Redis
answer; otherwise 503 naming what failed.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; say which
        return f"{type(error).__name__}: {error}".strip()[:200]
    return None


def _check_redis() -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
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
