from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender, **kwargs):
    from .services import PRODUCT_APPS, roles_ensure

    # Each product app's permissions appear in its own post_migrate; refreshing after each
    # means the last one leaves every group complete.
    if sender.label in PRODUCT_APPS:
        roles_ensure()


class CamerasConfig(AppConfig):
    """Cameras, zones, models, sensor settings, edge devices and how they authenticate."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cameras"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth schemes)

        # Roles need the permissions, which exist only after migrate: keep groups current
        # after every migrate (also `manage.py setup_roles`).
        post_migrate.connect(_roles_after_migrate)
