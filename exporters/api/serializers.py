"""Request and response shapes of the exporters API. Secrets are write-only: responses say only
whether the secret is set (`has_secret`) and mask header values and the URL's query (where
tokens live); see core.masking."""

from rest_framework import serializers

from cameras.models import Camera, Zone
from core import masking
from core.api import ModelCleanSerializer

from .. import services
from ..models import ExportDelivery, ExporterConfig


class ExporterConfigSerializer(ModelCleanSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        style={"input_type": "password"},
        help_text="Password (basic), token (bearer) or signing key (hmac). Never returned; "
        "omit it (or send ••••) on update to keep the current one, unless `url` moves to "
        "another scheme, host or port.",
    )
    has_secret = serializers.SerializerMethodField()
    cameras = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Camera.objects.all(), required=False
    )
    zones = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Zone.objects.all(), required=False
    )
    clean_exclude = ("cameras", "zones")

    class Meta:
        model = ExporterConfig
        fields = (
            "id",
            "name",
            "kind",
            "url",
            "method",
            "headers",
            "auth_type",
            "username",
            "secret",
            "has_secret",
            "payload_format",
            "batch_size",
            "cameras",
            "zones",
            "min_confidence",
            "plates",
            "timeout_seconds",
            "max_attempts",
            "enabled",
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "url": {
                "help_text": "http:// or https:// address. Answers mask its query (?••••); "
                "sent back masked, the stored query is kept. A new scheme, host or port drops "
                "the stored secret, header values and query unless new ones come with it."
            },
            "headers": {
                "help_text": 'Extra request headers, e.g. {"X-Api-Key": "…"}. Answers mask '
                "the values (••••); a masked value sent back keeps the stored one."
            },
        }

    def get_has_secret(self, obj) -> bool:
        return bool(obj.secret)

    def validate(self, attrs):
        attrs.update(
            services.exporter_secrets_resolve(
                exporter=self.instance,
                url=attrs.get("url"),
                headers=attrs.get("headers"),
                secret=attrs.get("secret"),
            )
        )
        return super().validate(attrs)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["url"] = masking.url_masked(instance.url)
        data["headers"] = masking.headers_masked(instance.headers)
        return data


class ExporterTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    response_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    delivery_id = serializers.CharField(help_text="The X-ANPR-Delivery the sample carried.")


class ExportDeliverySerializer(serializers.ModelSerializer):
    exporter_name = serializers.CharField(source="exporter.name", read_only=True)
    events = serializers.SerializerMethodField()

    class Meta:
        model = ExportDelivery
        fields = (
            "id",
            "exporter",
            "exporter_name",
            "events",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "response_ms",
            "delivered_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_events(self, obj) -> list[str]:
        return [str(link.event_id) for link in obj.event_links.all()]


class RedeliverDeadSerializer(serializers.Serializer):
    exporter = serializers.PrimaryKeyRelatedField(
        queryset=ExporterConfig.objects.all(),
        required=False,
        help_text="Only this exporter's dead deliveries (default: all).",
    )


class RedeliveredSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField()
