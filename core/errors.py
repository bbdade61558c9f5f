"""Django's own 404 and 500 answers: JSON in the API's error shape under /api/, the usual
pages elsewhere. (DRF views already answer their errors as JSON through
core.api.exception_handler; these cover a URL no view matches and an unhandled exception.)
An unreachable database is not a 500 but a 503 with Retry-After, on every path (core.outage)."""

import sys

from django.http import JsonResponse
from django.views import defaults

from .outage import outage_response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    outage = outage_response(sys.exc_info()[1])
    if outage is not None:
        return outage
    if _is_api(request):
        return JsonResponse(
            {
                "detail": "Internal server error; it has been logged under the X-Request-ID "
                "of this response.",
                "code": "server_error",
            },
            status=500,
        )
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse(
            {"detail": "You do not have permission to perform this action.", "code": "forbidden"},
            status=403,
        )
    return defaults.permission_denied(request, exception)
