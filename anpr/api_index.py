"""GET /api/: where the API starts, for a person or a client exploring it: the schema, the docs
and the main collections, as absolute links. Public like the schema it points to (each link
answers for itself who may follow it); a new collection is added to COLLECTIONS."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

#: name in the answer: URL name
COLLECTIONS = {
    "events": "event-list",
    "event_statistics": "event-stats",
    "cameras": "camera-list",
    "zones": "zone-list",
    "devices": "device-list",
    "model_configs": "model-config-list",
    "sensor_settings": "sensor-settings-list",
    "exporters": "exporter-list",
    "exporter_deliveries": "exporter-delivery-list",
}
DOCUMENTS = {"schema": "schema", "docs": "swagger-ui", "redoc": "redoc"}


class ApiIndexView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="api_index",
        tags=["api"],
        auth=[],
        responses=inline_serializer(
            "ApiIndex",
            {
                **{name: serializers.URLField() for name in DOCUMENTS},
                "collections": inline_serializer(
                    "ApiCollections", {name: serializers.URLField() for name in COLLECTIONS}
                ),
            },
        ),
    )
    def get(self, request):
        """Links to the OpenAPI schema, its docs (Swagger UI, ReDoc) and the collections."""

        def link(url_name: str) -> str:
            return request.build_absolute_uri(reverse(url_name))

        return Response(
            {
                **{name: link(url_name) for name, url_name in DOCUMENTS.items()},
                "collections": {name: link(url_name) for name, url_name in COLLECTIONS.items()},
            }
        )
