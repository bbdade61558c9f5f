"""Who is calling: users by session or Bearer token, edge devices by their key.

Device keys come as `Authorization: Token <key>` (what Plate Recognizer Stream and similar
devices are configured with) or `X-API-Key: <key>`; devices that cannot set headers put the
key in the URL path (see events' ingest URLs), which our logs redact.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from .models import EdgeDevice
from .selectors import device_for_key, user_for_token


class DevicePrincipal(AnonymousUser):
    """request.user for an edge device: authenticated, but holding no user permissions, so
    configuration endpoints (ModelRolePermission) refuse it."""

    def __init__(self, device: EdgeDevice):
        self.device = device

    @property
    def is_authenticated(self):
        return True

    def __str__(self):
        return f"device:{self.device.name}"


def _header(request, name: str) -> str:
    return request.META.get(name, "").strip()


class UserTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a user's API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, token = _header(request, "HTTP_AUTHORIZATION").partition(" ")
        if scheme.lower() != "bearer":
            return None
        user = user_for_token(token=token.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return user, None

    def authenticate_header(self, request):
        return self.keyword


def device_key_from_request(request, path_key: str = "") -> str:
    scheme, _, value = _header(request, "HTTP_AUTHORIZATION").partition(" ")
    if scheme.lower() == "token":
        return value.strip()
    return _header(request, "HTTP_X_API_KEY") or path_key


#: Where a request keeps the device its key named (None: no such device). In request.META,
#: which DRF's request shares with Django's, so that whoever asks first (the authentication
#: class, the ingest view, the throttle) looks it up for all. "KEY" in the name: error reports
#: mask it.
DEVICE_FOUND_META = "cameras.device_of_key"
_NOT_LOOKED_UP = object()


def device_for_key_in_request(request, path_key: str = "") -> EdgeDevice | None:
    """The active device whose key the request carries, or None (no key, or not a live one):
    looked up once per request."""
    device = request.META.get(DEVICE_FOUND_META, _NOT_LOOKED_UP)
    if device is _NOT_LOOKED_UP:
        device = device_for_key(key=device_key_from_request(request, path_key))
        request.META[DEVICE_FOUND_META] = device
    return device


class DeviceKeyAuthentication(authentication.BaseAuthentication):
    """An edge device's key: `Authorization: Token <key>`, `X-API-Key: <key>`, or the
    `device_key` URL keyword for devices that cannot set headers."""

    def authenticate(self, request):
        """`request`: DRF's, or Django's (the ingest views' dispatch passes Django's)."""
        match = request.resolver_match
        path_key = match.kwargs.get("device_key", "") if match is not None else ""
        key = device_key_from_request(request, path_key)
        if not key:
            return None
        device = device_for_key_in_request(request, path_key)
        if device is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked device key.")
        return DevicePrincipal(device), device

    def authenticate_header(self, request):
        return "Token"


class IsEdgeDevice:
    """Only an authenticated edge device (the ingest and config-pull endpoints)."""

    message = "This endpoint is for edge devices: send the device key."

    def has_permission(self, request, view):
        return isinstance(request.user, DevicePrincipal)

    def has_object_permission(self, request, view, obj):
        return True
