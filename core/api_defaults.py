"""The API's default permission, pagination, content negotiation and JSON parser (apart from
core.api, which imports DRF's views: DRF imports these while its views module loads)."""

from rest_framework import negotiation, pagination, parsers, permissions
from rest_framework.exceptions import ParseError, ValidationError

from core.json_bounds import json_body_bounded


class ModelRolePermission(permissions.DjangoModelPermissions):
    """A signed-in user with the model's Django permission: view for reads, add/change/delete
    for writes. Roles (viewer, operator, admin) are groups holding these permissions. Edge
    devices authenticate as DevicePrincipal, which holds none, so they never pass."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400) a body nested more than BODY_MAX_DEPTH levels or too
    deep for Python's parser, which DRF's would let out as a RecursionError (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parse = super().parse
        try:
            return json_body_bounded(lambda: parse(stream, media_type, parser_context))
        except ValueError as error:  # DRF's own errors are ParseErrors already
            raise ParseError(str(error)) from None


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """DRF's, except that a `?format=` no renderer of the view offers is a 400 naming the
    parameter (DRF answers 404, which says the resource is missing)."""

    def filter_renderers(self, renderers, format):
        found = [renderer for renderer in renderers if renderer.format == format]
        if not found:
            offered = ", ".join(renderer.format for renderer in renderers)
            raise ValidationError({"format": [f"Use one of: {offered}."]})
        return found
