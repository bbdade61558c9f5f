"""The one limit on a request body, before any view or parser reads it: EVENT_UPLOAD_MAX_BYTES
(the largest body any URL takes is an ingest with two images).

A body that declares a larger Content-Length is answered 413 unread, before authentication (an
anonymous 200 MB post must not be read to be told 401); one without a declared length
(chunked) is read up to the limit, then answered 413. Under WSGI (gunicorn) Django reads a
body only up to its declared length, so a chunked one is never read at all; under ASGI (daphne,
also behind `manage.py serve` and `runserver`) the server hands the application the body in
pieces, which asgi_body_limited counts.
"""

import json

from django.conf import settings


def body_declared_too_large(length) -> bool:
    """Whether a Content-Length value (str under WSGI, bytes under ASGI) is over the limit.
    A malformed one is left to the server and Django (which read it as no body)."""
    return bool(length) and length.isdigit() and int(length) > settings.EVENT_UPLOAD_MAX_BYTES


def body_too_large_content() -> bytes:
    """The 413's body, in the API's error shape."""
    detail = f"The body is larger than {settings.EVENT_UPLOAD_MAX_BYTES} bytes."
    return json.dumps({"detail": detail, "code": "too_large"}).encode()


def wsgi_body_refused(start_response) -> list[bytes]:
    content = body_too_large_content()
    start_response(
        "413 Request Entity Too Large",
        [("Content-Type", "application/json"), ("Content-Length", str(len(content)))],
    )
    return [content]


async def _asgi_body_refused(send) -> None:
    content = body_too_large_content()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def asgi_body_limited(application):
    """The HTTP `application` with request bodies held to the limit (see the module docstring).
    A chunked body over it: the application is told the client went away (Django then
    stops reading and answers nothing), and the 413 is sent here."""

    async def limited(scope, receive, send):
        for name, value in scope["headers"]:
            if name == b"content-length":
                if body_declared_too_large(value):
                    return await _asgi_body_refused(send)
                return await application(scope, receive, send)  # bounded by its length
        received = 0
        refused = answered = False

        async def counted_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > settings.EVENT_UPLOAD_MAX_BYTES:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        await application(scope, counted_receive, watched_send)
        if refused and not answered:
            await _asgi_body_refused(send)

    return limited
