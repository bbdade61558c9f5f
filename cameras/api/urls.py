from rest_framework.routers import SimpleRouter

from .views import CameraViewSet, EdgeDeviceViewSet

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
router.register("devices", EdgeDeviceViewSet, basename="device")

urlpatterns = router.urls
