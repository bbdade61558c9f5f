"""The operators' console: cameras (with their zones), model versions, sensor settings,
edge devices and API tokens. Row validation lives on the models, so these forms refuse what
the API refuses, with the same messages."""

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core import masking

from . import services
from .models import (
    Camera,
    DeviceKey,
    EdgeDevice,
    ModelConfig,
    RefusedRead,
    SensorSettings,
    UserApiToken,
    Zone,
    external_ids_per_device_check,
)
from .widgets import CameraLocationAdminMixin, ZoneMapAdminMixin


class ZoneInline(ZoneMapAdminMixin, admin.StackedInline):
    model = Zone
    fields = ("name", "kind", "enabled", "geometry", "roi")
    extra = 0


class CameraAdminForm(forms.ModelForm):
    """Stream credentials are write-only here too: the password is never rendered back, the
    user name and the URL's query show as masks, and a mask (or an empty password box) saved
    unchanged keeps the stored value (services.camera_stream_credentials_resolve)."""

    stream_password = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the current password.",
    )

    class Meta:
        model = Camera
        fields = ("stream_url", "stream_username", "stream_password")  # the admin adds the rest

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["stream_url"] = masking.url_masked(self.instance.stream_url)
            self.initial["stream_password"] = ""  # not even in the template's context
            if self.instance.stream_username:
                self.initial["stream_username"] = masking.MASK

    def clean(self):
        cleaned = super().clean()
        cleaned.update(
            services.camera_stream_credentials_resolve(
                camera=self.instance if self.instance.pk else None,
                stream_url=cleaned.get("stream_url"),
                stream_username=cleaned.get("stream_username"),
                stream_password=cleaned.get("stream_password") or masking.MASK,
            )
        )
        return cleaned


@admin.register(Camera)
class CameraAdmin(masking.WriteOnlyAdminMixin, CameraLocationAdminMixin, admin.ModelAdmin):
    form = CameraAdminForm
    write_only_display = {
        "stream_url": "stream_url_shown",
        "stream_username": "stream_username_shown",
        "stream_password": "stream_password_shown",
    }
    list_display = ("name", "slug", "status", "latitude", "longitude", "last_seen_at")
    list_filter = ("status", "devices")
    search_fields = ("name", "slug", "external_id", "address")
    readonly_fields = ("last_seen_at", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (ZoneInline,)
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

    @admin.display(description="Stream URL")
    def stream_url_shown(self, obj):
        return masking.url_masked(obj.stream_url)

    @admin.display(description="Stream username")
    def stream_username_shown(self, obj):
        return "set" if obj.stream_username else "not set"

    @admin.display(description="Stream password")
    def stream_password_shown(self, obj):
        return "set" if obj.stream_password else "not set"

    @admin.action(description="Mark selected cameras active", permissions=["change"])
    def make_active(self, request, queryset):
        count = queryset.update(status=Camera.Status.ACTIVE, updated_at=timezone.now())
        self.message_user(request, f"{count} camera(s) marked active.")

    @admin.action(description="Mark selected cameras inactive", permissions=["change"])
    def make_inactive(self, request, queryset):
        count = queryset.update(status=Camera.Status.INACTIVE, updated_at=timezone.now())
        self.message_user(request, f"{count} camera(s) marked inactive.")


@admin.register(Zone)
class ZoneAdmin(ZoneMapAdminMixin, admin.ModelAdmin):
    list_display = ("name", "camera", "kind", "enabled", "updated_at")
    list_filter = ("kind", "enabled", "camera")
    list_select_related = ("camera",)
    search_fields = ("name", "camera__name", "camera__slug")
    fields = ("camera", "name", "kind", "enabled", "geometry", "roi", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "task", "framework", "is_active", "updated_at")
    list_filter = ("task", "is_active", "framework", "name")
    search_fields = ("name", "version", "framework", "release_notes")
    readonly_fields = ("created_at", "updated_at")
    # A bare host typed as the artifact URL means https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("activate",)

    @admin.action(
        description="Activate this version (deactivates the model's previous one)",
        permissions=["change"],
    )
    def activate(self, request, queryset):
        counts = Counter(queryset.values_list("name", flat=True))
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            self.message_user(
                request,
                f"Select one version per model; several were selected of: {', '.join(repeated)}.",
                messages.ERROR,
            )
            return
        for model_config in queryset:
            try:
                services.model_config_activate(model_config=model_config)
            except ValidationError as error:
                reason = " ".join(error.messages)
                self.message_user(request, f"{model_config}: {reason}", messages.ERROR)
            else:
                self.message_user(request, f"{model_config} is now the active version.")


@admin.register(SensorSettings)
class SensorSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "camera",
        "zone",
        "model_config",
        "confidence_threshold",
        "image_upload_policy",
        "enabled",
    )
    list_filter = ("enabled", "image_upload_policy", "camera", "model_config__name")
    list_select_related = ("camera", "zone", "model_config")
    search_fields = ("camera__name", "camera__slug", "zone__name", "model_config__name")
    readonly_fields = ("created_at", "updated_at")
    actions = ("enable", "disable")

    @admin.action(description="Enable selected sensors", permissions=["change"])
    def enable(self, request, queryset):
        count = services.sensor_settings_set_enabled(sensor_settings=queryset, enabled=True)
        self.message_user(request, f"{count} sensor setting(s) enabled.")

    @admin.action(description="Disable selected sensors", permissions=["change"])
    def disable(self, request, queryset):
        count = services.sensor_settings_set_enabled(sensor_settings=queryset, enabled=False)
        self.message_user(request, f"{count} sensor setting(s) disabled.")


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


class RefusedReadInline(admin.TabularInline):
    """The device's last refused reads and why (read-only): no edge agent shows them."""

    model = RefusedRead
    verbose_name_plural = "Last refused reads (newest first)"
    fields = ("refused_at", "camera", "plate", "captured_at", "source", "reasons")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Why")
    def reasons(self, obj):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in (obj.errors or {}).items()
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EdgeDeviceAdminForm(forms.ModelForm):
    def clean_cameras(self):
        cameras = self.cleaned_data["cameras"]
        external_ids_per_device_check(cameras)
        return cameras


@admin.register(EdgeDevice)
class EdgeDeviceAdmin(admin.ModelAdmin):
    form = EdgeDeviceAdminForm
    list_display = (
        "name",
        "is_active",
        "adopts_cameras",
        "camera_list",
        "live_keys",
        "last_seen_at",
    )
    list_filter = ("is_active", "adopts_cameras", "cameras")
    search_fields = ("name", "notes", "cameras__slug")
    filter_horizontal = ("cameras",)
    readonly_fields = ("last_seen_at", "created_at", "updated_at")
    inlines = (DeviceKeyInline, RefusedReadInline)
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
