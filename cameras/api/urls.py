from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    CameraViewSet,
    DeviceConfigView,
    EdgeDeviceViewSet,
    ModelConfigViewSet,
    SensorSettingsViewSet,
    ZoneViewSet,
)

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
router.register("devices", EdgeDeviceViewSet, basename="device")
router.register("zones", ZoneViewSet, basename="zone")
router.register("model-configs", ModelConfigViewSet, basename="model-config")
router.register("sensor-settings", SensorSettingsViewSet, basename="sensor-settings")

urlpatterns = [
    path("devices/me/config/", DeviceConfigView.as_view(), name="device-me-config"),
    *router.urls,
]
