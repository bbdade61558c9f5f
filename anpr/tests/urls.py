"""The project's URLs plus views that only tests need: two that fail (a bug, a misused
cursor) and one that is throttled per device like the ingest views."""

from django.db import connection
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from anpr.urls import handler400, handler403, handler404, handler500, urlpatterns
from cameras.authentication import DeviceKeyAuthentication, IsEdgeDevice
from core.throttling import DeviceIngestThrottle


class BoomView(APIView):
    permission_classes = ()

    def get(self, request):
        raise RuntimeError("a bug that reaches the user as a 500")


class ClosedCursorView(APIView):
    permission_classes = ()

    def get(self, request):
        with connection.cursor() as cursor:
            pass
        cursor.execute("SELECT 1")  # a bug: the cursor is closed, the connection is fine


class ThrottledDeviceView(APIView):
    authentication_classes = (DeviceKeyAuthentication,)
    permission_classes = (IsEdgeDevice,)
    throttle_classes = (DeviceIngestThrottle,)

    def post(self, request):
        return Response({"ok": True}, status=201)


urlpatterns = [
    path("api/test-boom/", BoomView.as_view()),
    path("api/test-closed-cursor/", ClosedCursorView.as_view()),
    path("api/test-throttled/", ThrottledDeviceView.as_view()),
    *urlpatterns,
]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
