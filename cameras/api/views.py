"""Configuration CRUD of cameras, zones, model configs, sensor settings and edge devices, and
the edge devices' config pull."""

import hashlib

from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ConfigViewSet

from .. import selectors, services
from ..authentication import DeviceKeyAuthentication, IsEdgeDevice
from ..filters import (
    CameraFilter,
    EdgeDeviceFilter,
    ModelConfigFilter,
    SensorSettingsFilter,
    ZoneFilter,
)
from ..models import EdgeDevice, ModelConfig, SensorSettings, Zone
from .serializers import (
    CameraSerializer,
    DeviceConfigSerializer,
    DeviceKeySerializer,
    EdgeDeviceCreatedSerializer,
    EdgeDeviceSerializer,
    IssuedKeySerializer,
    ModelConfigSerializer,
    SensorSettingsSerializer,
    ZoneSerializer,
)


class CameraViewSet(ConfigViewSet):
    """Cameras. Deleting one that still has sensor settings or events answers 409."""

    queryset = selectors.camera_list_with_zones()
    lookup_value_regex = r"\d+"
    serializer_class = CameraSerializer
    filterset_class = CameraFilter
    ordering_fields = ("id", "name", "slug", "status", "created_at", "last_seen_at")


class ZoneViewSet(ConfigViewSet):
    """Zones of cameras; a camera's read also lists its zones."""

    queryset = Zone.objects.select_related("camera")
    serializer_class = ZoneSerializer
    filterset_class = ZoneFilter
    ordering_fields = ("id", "name", "kind", "camera", "created_at")


class ModelConfigViewSet(ConfigViewSet):
    """AI model versions. Deleting one still used by sensor settings answers 409."""

    queryset = ModelConfig.objects.all()
    serializer_class = ModelConfigSerializer
    filterset_class = ModelConfigFilter
    ordering_fields = ("id", "name", "version", "task", "created_at")

    @extend_schema(request=None, responses={200: ModelConfigSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Make this the active version of its model; the previous one is deactivated in
        the same transaction."""
        model_config = services.model_config_activate(model_config=self.get_object())
        return Response(self.get_serializer(model_config).data)


class SensorSettingsViewSet(ConfigViewSet):
    """Sensor settings per camera."""

    queryset = SensorSettings.objects.all()
    serializer_class = SensorSettingsSerializer
    filterset_class = SensorSettingsFilter
    ordering_fields = ("id", "camera", "created_at", "updated_at")


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
            adopts_cameras=data.get("adopts_cameras", False),
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


class DeviceConfigView(APIView):
    """GET /api/devices/me/config/: the calling device's configuration, with a strong ETag
    over the body; send it back in If-None-Match and an unchanged config costs a 304."""

    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsEdgeDevice]

    @extend_schema(
        operation_id="devices_me_config",
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of the configuration the device already has.",
            )
        ],
        responses={
            200: DeviceConfigSerializer,
            304: OpenApiResponse(description="The configuration has not changed."),
        },
    )
    def get(self, request):
        device = request.user.device
        services.device_touch(device=device)
        config = selectors.device_config(device=device)
        body = JSONRenderer().render(DeviceConfigSerializer(config).data)
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        # Holds stream credentials: no shared cache may keep it; the device revalidates.
        response["Cache-Control"] = "private, no-cache"
        patch_vary_headers(response, ("Authorization", "X-API-Key"))
        return get_conditional_response(request, etag=etag, response=response)
