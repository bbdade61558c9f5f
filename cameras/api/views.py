"""Configuration CRUD of cameras and edge devices (the pattern the other config resources copy)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from anpr.api import ConfigViewSet

from .. import services
from ..filters import CameraFilter, EdgeDeviceFilter
from ..models import Camera, EdgeDevice
from .serializers import (
    CameraSerializer,
    DeviceKeySerializer,
    EdgeDeviceCreatedSerializer,
    EdgeDeviceSerializer,
    IssuedKeySerializer,
)


class CameraViewSet(ConfigViewSet):
    """Cameras. Deleting one that still has sensor settings or events answers 409."""

    queryset = Camera.objects.all()
    lookup_value_regex = r"\d+"
    serializer_class = CameraSerializer
    filterset_class = CameraFilter
    ordering_fields = ("id", "name", "slug", "status", "created_at", "last_seen_at")


def _issued(issued) -> dict:
    record = issued.record
    return {
        "id": record.id,
        "prefix": record.prefix,
        "key": issued.key,
        "created_at": record.created_at,
    }


class EdgeDeviceViewSet(ConfigViewSet):
    """Edge devices. Creating one returns its key once, in the `key` field."""

    queryset = EdgeDevice.objects.prefetch_related("cameras", "keys")
    lookup_value_regex = r"\d+"  # leaves /api/devices/me/... to the device endpoints
    serializer_class = EdgeDeviceSerializer
    filterset_class = EdgeDeviceFilter
    ordering_fields = ("id", "name", "created_at", "last_seen_at")

    @extend_schema(responses={201: EdgeDeviceCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        device, issued = services.device_create(
            name=data["name"],
            cameras=data.get("cameras", ()),
            notes=data.get("notes", ""),
            is_active=data.get("is_active", True),
        )
        body = EdgeDeviceSerializer(device, context=self.get_serializer_context()).data
        body["key"] = issued.key
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: IssuedKeySerializer})
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, pk=None):
        """Issue a new key; the old ones keep working until revoked (rotation overlap)."""
        device = self.get_object()
        issued = services.device_key_issue(device=device)
        return Response(_issued(issued), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: DeviceKeySerializer})
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<key_id>\d+)/revoke")
    def revoke_key(self, request, pk=None, key_id=None):
        """Revoke one key of the device; requests with it are refused from now on."""
        device = self.get_object()
        key = get_object_or_404(device.keys.all(), pk=key_id)
        services.device_key_revoke(key=key)
        return Response(DeviceKeySerializer(key).data)
