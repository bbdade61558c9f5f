"""Write-only values: answers (API and admin) show that a secret is set, never the secret.

A URL's userinfo and query (where tokens live) and header values are shown as a mask; the mask
sent back unchanged keeps the stored value. Stored secrets belong to one destination (scheme,
host and port): sent to a new one, they are dropped, so nobody can redirect them elsewhere.
"""

from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "••••"

#: Ports implied by a scheme, so that `https://h/` and `https://h:443/` are one destination.
DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}


def url_masked(url: str) -> str:
    """The URL with its userinfo and query, when it has them, replaced by the mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK if url else ""
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_destination(url: str) -> tuple[str, str, int | str | None]:
    """(scheme, host, port): where the URL's credentials would go."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # e.g. a port out of range: compare the text
        return url, "", None


def secrets_kept(*, url: str | None, stored_url: str, stored: bool) -> bool:
    """Whether a row's stored secrets stay: it is stored, and the URL submitted (None: not
    submitted) goes to the stored URL's destination."""
    return stored and (url is None or url_destination(url) == url_destination(stored_url))


def url_unmasked(*, url: str, stored: str, keep: bool) -> str:
    """The URL to store: a masked userinfo or query is the stored one when `keep`, else
    dropped (it is never stored as the mask)."""
    try:
        parts, before = urlsplit(url), urlsplit(stored)
    except ValueError:
        return url
    netloc, query = parts.netloc, parts.query
    userinfo, at, host = netloc.rpartition("@")
    if at and unquote(userinfo) == MASK:  # as shown, or percent-encoded by the client
        stored_userinfo = before.netloc.rpartition("@")[0] if keep else ""
        netloc = f"{stored_userinfo}@{host}" if stored_userinfo else host
    if unquote(query) == MASK:
        query = before.query if keep else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def headers_masked(headers) -> dict:
    """Header names with their values masked (an empty value stays empty: not set)."""
    if not isinstance(headers, dict):
        return {}
    return {name: MASK if value else "" for name, value in headers.items()}


def headers_unmasked(*, headers, stored: dict, keep: bool):
    """The headers to store: a masked value is the stored value of that header when `keep`,
    else empty. Anything but a JSON object is returned for validation to refuse."""
    if not isinstance(headers, dict):
        return headers
    return {
        name: (stored.get(name, "") if keep else "") if value == MASK else value
        for name, value in headers.items()
    }


def secret_unmasked(*, value: str | None, stored: str, keep: bool) -> str | None:
    """The secret to store, or None to leave it alone: a new value wins; the mask (or nothing,
    when the destination changed) keeps the stored one only for the same destination."""
    if value is not None and value != MASK:
        return value
    if keep:
        return stored if value == MASK else None
    return ""


class WriteOnlyAdminMixin:
    """For users who may only view, shows `write_only_display` ({field: display method}) in
    place of those fields: Django renders read-only fields from the stored value, skipping
    the widgets that mask them."""

    write_only_display: dict[str, str] = {}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        shown = self.write_only_display
        return [
            (title, {**options, "fields": tuple(shown.get(f, f) for f in options["fields"])})
            for title, options in fieldsets
        ]
