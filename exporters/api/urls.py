from rest_framework.routers import SimpleRouter

from .views import ExportDeliveryViewSet, ExporterConfigViewSet

router = SimpleRouter()
router.register("exporters", ExporterConfigViewSet, basename="exporter")
router.register("exporter-deliveries", ExportDeliveryViewSet, basename="exporter-delivery")

urlpatterns = router.urls
