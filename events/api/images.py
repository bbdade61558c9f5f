"""Serving an event's image files: to users through the event API, and to holders of a signed
link (events.image_links) without an account."""

import mimetypes

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.signing import BadSignature
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from ..image_links import image_link_open
from ..models import PlateEvent


def image_file_response(*, name: str) -> HttpResponse:
    """The stored image `name` (an event's plate_image or frame_image), or 404 when it is not
    stored (none, or removed by retention)."""
    if not name or not default_storage.exists(name):
        raise Http404
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    accel = settings.MEDIA_ACCEL_REDIRECT
    if accel:  # nginx sends the file; Django only decided who may see it
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + name
    else:
        response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


class EventImageLinkView(APIView):
    """An event's image for whoever holds a signed link to it (exporters' receivers): no
    session or token, the link is the permission. 403 when the link was altered or has
    expired (EXPORTER_IMAGE_LINK_SECONDS), 404 when the event or its image is gone."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        auth=[],
        tags=["events"],
        responses={
            (200, "image/*"): OpenApiTypes.BINARY,
            403: OpenApiResponse(description="The link was altered or has expired."),
        },
    )
    def get(self, request, token):
        try:
            event_id, kind = image_link_open(token=token)
        except BadSignature:
            raise PermissionDenied("This image link is not valid or has expired.") from None
        names = PlateEvent.objects.filter(pk=event_id).values_list(f"{kind}_image", flat=True)
        response = image_file_response(name=next(iter(names), ""))
        # Not kept by the receiver's caches past the link's life (nor shared between them).
        response["Cache-Control"] = "no-store"
        return response
