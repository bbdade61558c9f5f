"""The operators' console for cameras and edge devices."""

from django.contrib import admin, messages
from django.utils import timezone

from . import services
from .models import Camera, DeviceKey, EdgeDevice, UserApiToken


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "latitude", "longitude", "last_seen_at")
    list_filter = ("status",)
    search_fields = ("name", "slug", "external_id", "address")
    readonly_fields = ("last_seen_at", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("make_active", "make_inactive")
    fieldsets = (
        (None, {"fields": ("name", "slug", "external_id", "status", "description")}),
        ("Location", {"fields": ("latitude", "longitude", "heading", "address")}),
        (
            "Stream",
            {"fields": ("stream_url", "stream_username", "stream_password", "resolution", "fps")},
        ),
        (
            "Other",
            {"fields": ("retention_days", "metadata", "last_seen_at", "created_at", "updated_at")},
        ),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # The stream password is write-only: never rendered back into the page.
        from django import forms

        form.base_fields["stream_password"].widget = forms.PasswordInput(render_value=False)
        form.base_fields[
            "stream_password"
        ].help_text = "Write-only. Leave empty to keep the current password."
        return form

    def save_model(self, request, obj, form, change):
        if change and not form.cleaned_data.get("stream_password"):
            obj.stream_password = Camera.objects.get(pk=obj.pk).stream_password
        super().save_model(request, obj, form, change)

    @admin.action(description="Mark selected cameras active", permissions=["change"])
    def make_active(self, request, queryset):
        count = queryset.update(status=Camera.Status.ACTIVE, updated_at=timezone.now())
        self.message_user(request, f"{count} camera(s) marked active.")

    @admin.action(description="Mark selected cameras inactive", permissions=["change"])
    def make_inactive(self, request, queryset):
        count = queryset.update(status=Camera.Status.INACTIVE, updated_at=timezone.now())
        self.message_user(request, f"{count} camera(s) marked inactive.")


class DeviceKeyInline(admin.TabularInline):
    model = DeviceKey
    fields = ("prefix", "created_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "revoked_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def _show_key_once(request, device: EdgeDevice, key: str) -> None:
    messages.warning(
        request,
        f"New key for {device.name}: {key} — copy it now; it is stored only as a digest "
        "and will not be shown again.",
    )


@admin.register(EdgeDevice)
class EdgeDeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "camera_list", "live_keys", "last_seen_at")
    list_filter = ("is_active", "cameras")
    search_fields = ("name", "notes", "cameras__slug")
    filter_horizontal = ("cameras",)
    readonly_fields = ("last_seen_at", "created_at", "updated_at")
    inlines = (DeviceKeyInline,)
    actions = ("rotate_key", "revoke_old_keys", "revoke_all_keys")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("cameras", "keys")

    @admin.display(description="Cameras")
    def camera_list(self, obj):
        return ", ".join(c.slug for c in obj.cameras.all())

    @admin.display(description="Live keys")
    def live_keys(self, obj):
        return sum(1 for key in obj.keys.all() if key.revoked_at is None)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            _show_key_once(request, obj, services.device_key_issue(device=obj).key)

    @admin.action(
        description="Issue a new key (old keys keep working until revoked)", permissions=["change"]
    )
    def rotate_key(self, request, queryset):
        for device in queryset:
            _show_key_once(request, device, services.device_key_issue(device=device).key)

    @admin.action(description="Revoke all but the newest key", permissions=["change"])
    def revoke_old_keys(self, request, queryset):
        revoked = 0
        for device in queryset:
            newest = device.keys.filter(revoked_at__isnull=True).order_by("-created_at").first()
            if newest:
                revoked += services.device_keys_revoke_all_but(device=device, keep=newest)
        self.message_user(request, f"{revoked} key(s) revoked.")

    @admin.action(description="Revoke all keys", permissions=["change"])
    def revoke_all_keys(self, request, queryset):
        count = DeviceKey.objects.filter(device__in=queryset, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.message_user(request, f"{count} key(s) revoked.")


@admin.register(UserApiToken)
class UserApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("user", "name", "prefix", "created_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "revoked_at")
    actions = ("revoke",)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = services.user_token_issue(user=obj.user, name=obj.name)
        obj.pk = issued.record.pk
        obj.prefix, obj.digest = issued.record.prefix, issued.record.digest
        messages.warning(
            request,
            f"New API token for {obj.user}: {issued.key} — copy it now; it will "
            "not be shown again.",
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")
