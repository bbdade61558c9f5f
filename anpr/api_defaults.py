"""The API's default permission and pagination (apart from anpr.api, which imports DRF's
views: DRF imports these while its views module loads)."""

from rest_framework import pagination, permissions


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
