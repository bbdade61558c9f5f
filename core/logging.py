"""Log records as JSON lines (or plain text for a terminal), each with the request id, and
with secrets masked on the way out.

Secrets reach log messages by accident: Django's own "Not Found: /api/events/ingest/<key>/"
warning carries a device key that a device put in the URL path. So masking happens here, on
every record of every logger, not only in our request log.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

#: The id of the request being served (set by core.middleware.RequestIdMiddleware).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

MASK = "***"

# Keys we issue (cameras.services: anprd_ devices, anpru_ users) wherever they appear, the
# key segment of the ingest URLs, signed image links, and tokens in query strings or headers
# quoted in a message.
_SECRET_PATTERNS = (
    (re.compile(r"\banpr[du]_[A-Za-z0-9_\-]{8,}"), MASK),
    (re.compile(r"(/api/events/ingest/)[^/?#\s\"']+"), r"\1" + MASK),
    (re.compile(r"(/api/ingest/[^/?#\s\"']+/)[^/?#\s\"']+"), r"\1" + MASK),
    # A signed image link opens the image for whoever holds it (events.image_links).
    (re.compile(r"(/api/event-images/)[^/?#\s\"']+"), r"\1" + MASK),
    (re.compile(r"([?&](?:token|key|api_key|access_token)=)[^&#\s\"']*", re.I), r"\1" + MASK),
    (
        re.compile(r"((?:Authorization|X-API-Key)[\"']?\s*[:=]\s*[\"']?)[^\"',}\n]+", re.I),
        r"\1" + MASK,
    ),
)


def redact(text: str) -> str:
    """The text with device keys, user tokens, ingest-URL keys and signed image links
    replaced by ***."""
    if text in _NOTHING_TO_MASK:
        return text
    masked = text
    for pattern, replacement in _SECRET_PATTERNS:
        masked = pattern.sub(replacement, masked)
    if masked == text and len(text) <= 200:
        if len(_NOTHING_TO_MASK) >= 4096:
            _NOTHING_TO_MASK.clear()
        _NOTHING_TO_MASK.add(text)
    return masked


#: Short texts found to hold no secret. They recur (a request line's method, masked path and
#: message are the same for every read a device posts), and a set lookup is cheaper than six
#: patterns; a text that held a secret is not kept.
_NOTHING_TO_MASK: set[str] = set()


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id ('' outside a request)."""

    def filter(self, record):
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        return True


# Attributes every LogRecord has; anything else was passed with `extra=` and is logged too.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and the extras."""

    def format(self, record):
        body = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", "") or request_id_var.get()
        if request_id:
            body["request_id"] = request_id
        body.update(
            (name, _plain(value))
            for name, value in vars(record).items()
            if name not in _STANDARD and name[:1] != "_"
        )
        if record.exc_info:
            body["exception"] = redact(self.formatException(record.exc_info))
        return _ENCODER.encode(body)


#: One encoder for every line (json.dumps with an argument makes a new one per call).
_ENCODER = json.JSONEncoder(default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for a terminal, masked like the JSON ones."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return redact(super().format(record))


def _plain(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))
