"""Links to an event's images, for whoever receives the event.

Signed-in users and API tokens open the API's own image URL, where their permission to view
events decides (`image_link_site`). Receivers without an account, such as exporters, get a
link signed with the SECRET_KEY that opens the image without a session until
EXPORTER_IMAGE_LINK_SECONDS after it was made (`image_link_signed`); it is absolute, on
PUBLIC_BASE_URL, and without that setting there is no link rather than one that cannot
resolve outside this site.
"""

from django.conf import settings
from django.core.signing import BadSignature, TimestampSigner
from django.urls import get_script_prefix, reverse

from .models import PlateEvent

#: The images an event may have: the plate crop and the full frame.
IMAGE_KINDS = ("plate", "frame")
#: Keeps these signatures apart from any other value signed with the same SECRET_KEY.
_SALT = "events.image_links"


def image_link_site(*, event: PlateEvent, kind: str) -> str | None:
    """GET /api/events/{id}/images/{kind}/, relative to this site, or None without an image.
    Reads the stored file name only: no storage call, no query."""
    if not event.__dict__[f"{kind}_image"]:  # the name, or a FieldFile once accessed
        return None
    return reverse("event-image", kwargs={"pk": event.pk, "kind": kind})


def image_link_signed(*, event: PlateEvent, kind: str) -> str | None:
    """An absolute link that opens the image without a session until it expires, or None
    without an image or without PUBLIC_BASE_URL."""
    if not settings.PUBLIC_BASE_URL or not event.__dict__[f"{kind}_image"]:
        return None
    token = TimestampSigner(salt=_SALT).sign(f"{event.pk}.{kind}")
    path = reverse("event-image-link", kwargs={"token": token}).removeprefix(get_script_prefix())
    return f"{settings.PUBLIC_BASE_URL}/{path}"  # the base names the prefix receivers see


def image_link_open(*, token: str) -> tuple[str, str]:
    """(event id, kind) that a signed link names; BadSignature (or its SignatureExpired) when
    it was altered, signed with another key or is older than EXPORTER_IMAGE_LINK_SECONDS."""
    value = TimestampSigner(salt=_SALT).unsign(token, max_age=settings.EXPORTER_IMAGE_LINK_SECONDS)
    event_id, _, kind = value.partition(".")
    if kind not in IMAGE_KINDS:  # only we sign, so only a changed key could get here
        raise BadSignature("Unknown image kind.")
    return event_id, kind
