"""Keyset (cursor) pagination of the event list on (captured_at, id).

A page is "the next N events after this (captured_at, id)", an index range scan however deep
the page, and, because the position is a value rather than an offset, events arriving
meanwhile neither repeat nor shift anything on the pages after it.
"""

import base64
import binascii
import uuid
from datetime import datetime

from django.db.models import Q
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.ids import ascii_integer
from core.timestamps import timestamp_check

ORDERINGS = ("-captured_at", "captured_at")


def event_ordering(params) -> str:
    """The `ordering` query parameter, checked: the order of pages and of a CSV export."""
    ordering = params.get("ordering", ORDERINGS[0])
    if ordering not in ORDERINGS:
        raise exceptions.ValidationError({"ordering": [f"Use one of: {', '.join(ORDERINGS)}."]})
    return ordering


def events_ordered(events, *, descending: bool):
    """Events by capture time, the id breaking ties: the one order of pages and exports (the
    cursor holds both, so no event is repeated or skipped between pages)."""
    sign = "-" if descending else ""
    return events.order_by(f"{sign}captured_at", f"{sign}id")


class EventCursorPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size = 50
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        ordering = event_ordering(params)
        size = self._page_size(params.get("page_size"))
        descending = ordering.startswith("-")
        cursor = params.get(self.cursor_query_param)
        backwards = False
        if cursor:
            captured_at, event_id, backwards = _decode(cursor)
            # A previous page walks from its position against the order, then turns round.
            if descending != backwards:
                queryset = queryset.filter(captured_at__lte=captured_at).filter(
                    Q(captured_at__lt=captured_at) | Q(id__lt=event_id)
                )
            else:
                queryset = queryset.filter(captured_at__gte=captured_at).filter(
                    Q(captured_at__gt=captured_at) | Q(id__gt=event_id)
                )
        rows = list(events_ordered(queryset, descending=descending != backwards)[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        self.request = request
        # Forwards there is more after this page when a row was left over, and something
        # before it when it came from a cursor; backwards the other way round.
        has_next, has_previous = (True, more) if backwards else (more, bool(cursor))
        self.next_cursor = _encode(rows[-1]) if rows and has_next else None
        self.previous_cursor = _encode(rows[0], backwards=True) if rows and has_previous else None
        return rows

    def _page_size(self, raw):
        if raw is None:
            return self.page_size
        size = ascii_integer(raw)
        if size is None or size < 1:
            raise exceptions.ValidationError({"page_size": ["Must be a positive integer."]})
        return min(size, self.max_page_size)

    def get_next_link(self):
        if self.next_cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.next_cursor)

    def get_previous_link(self):
        if self.previous_cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.previous_cursor)

    def get_first_link(self):
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response(self, data):
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, or null at the end.",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The page before, or null on the first.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque position from a page's `next` link.",
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "description": f"Events per page (default {self.page_size}, at most "
                f"{self.max_page_size}).",
                "schema": {"type": "integer"},
            },
            {
                "name": "ordering",
                "in": "query",
                "required": False,
                "description": "-captured_at (newest first, the default) or captured_at.",
                "schema": {"type": "string", "enum": list(ORDERINGS)},
            },
        ]


def _encode(event, *, backwards: bool = False) -> str:
    """The position after (`backwards`: before) `event`."""
    raw = f"{event.captured_at.isoformat()}|{event.id}{'|p' if backwards else ''}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID, bool]:
    """(captured_at, id, backwards) of a cursor made by `_encode`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        captured, _, rest = raw.partition("|")
        event_id, _, direction = rest.partition("|")
        moment = datetime.fromisoformat(captured)
        if moment.tzinfo is None or direction not in ("", "p"):
            raise ValueError
        return timestamp_check(moment), uuid.UUID(event_id), direction == "p"
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
