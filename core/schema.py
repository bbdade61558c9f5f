"""The error answers of every API operation, in the OpenAPI schema, added in one place.

drf-spectacular documents what a view returns on success; a client generated from the schema
must also know which errors it can get and what they look like. `ApiAutoSchema` (the
DEFAULT_SCHEMA_CLASS) adds them to each operation by what the operation is, so a new endpoint
is covered without a word of its own:

- reads credentials (any authentication class): 401; needs a permission (any but AllowAny):
  403;
- has a path parameter (but a credential a view names in `path_credentials`, refused with a
  401), or a `page` (a page past the last is a 404): 404;
- has a request body or query parameters: 400; a request body: 413, and 415 when DRF's
  parsers read it;
- a view that declares `conflict_actions` (core.api.ConfigViewSet: a row still referenced, a
  concurrent write): 409 for those actions;
- throttled (`throttle_classes`: device ingest): 429 with Retry-After (a view throttled only
  sometimes, as the events list for a CSV export, names 429 itself);
- every operation: 503 with Retry-After while the database is unreachable (core.outage).

All of them have one body, the `ApiError` component: what core.api.exception_handler,
core.errors, core.outage and anpr.body_limit answer. A view that names an error status itself
(`responses={409: OpenApiResponse(description=...)}`) keeps its description and gets the body.
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ApiErrorSerializer(serializers.Serializer):
    """The API's one error shape (core.api)."""

    detail = serializers.CharField(help_text="What went wrong, as a sentence.")
    code = serializers.CharField(
        help_text="Machine-readable: invalid, not_authenticated, permission_denied, not_found, "
        "conflict, too_large, throttled, database_unavailable, ..."
    )
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Validation errors only (`code` invalid): the messages per field, a list of "
        "sentences (a nested field: the same shape under its name); errors of the whole "
        "request under `non_field_errors`.",
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}

#: status: (the default description, response headers)
ERROR_ANSWERS = {
    400: ("Invalid input: `errors` names each refused field.", {}),
    401: ("Not authenticated: no, an unknown or a revoked token, session or device key.", {}),
    403: (
        "Not allowed: the role lacks the permission, or the caller is the wrong kind (a device "
        "on a user endpoint, a user on a device endpoint).",
        {},
    ),
    404: ("Not found (or a page past the last).", {}),
    409: ("Conflicts with the current state (a row still referenced, a concurrent change).", {}),
    413: ("The body (or an uploaded image) is larger than the limit.", {}),
    415: ("The body's Content-Type is not one the operation reads.", {}),
    429: ("Too many requests from this device: wait for Retry-After.", _RETRY_AFTER),
    503: ("The database is unavailable: try again after Retry-After.", _RETRY_AFTER),
}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with each operation's error answers (module docstring)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = {
            "application/json": {
                "schema": self.resolve_serializer(ApiErrorSerializer, "response").ref
            }
        }
        responses = operation["responses"]
        for code in self.error_statuses(operation):
            description, headers = ERROR_ANSWERS[code]
            answer = responses.setdefault(str(code), {"description": description})
            answer.setdefault("content", error)
            if headers:
                answer.setdefault("headers", headers)
        return operation

    def error_statuses(self, operation) -> list[int]:
        """The error statuses the operation can answer, from what it is."""
        parameters = operation.get("parameters", [])
        query = [p for p in parameters if p["in"] == "query"]
        has_body = "requestBody" in operation
        statuses = {503}
        if self.view.authentication_classes:  # bad credentials are refused even where
            statuses.add(401)  # anonymous callers are let in
        if any(not issubclass(p, AllowAny) for p in self.view.permission_classes):
            statuses.add(403)
        credentials = getattr(self.view, "path_credentials", ())
        looked_up = [p for p in parameters if p["in"] == "path" and p["name"] not in credentials]
        if looked_up or any(p["name"] == "page" for p in query):
            statuses.add(404)
        if has_body or query:
            statuses.add(400)
        if has_body:
            statuses.add(413)
            if self.view.parser_classes:  # device ingest reads its body itself, whatever the type
                statuses.add(415)
        if getattr(self.view, "action", None) in getattr(self.view, "conflict_actions", ()):
            statuses.add(409)
        if self.view.throttle_classes:
            statuses.add(429)
        declared = {int(code) for code in operation["responses"] if code.isdigit()}
        statuses |= declared & ERROR_ANSWERS.keys()
        return sorted(statuses)
