"""A vendor camera id is unique per device, not across all cameras (two Frigates may both
call a camera `front`): the global unique index on Camera.external_id becomes a plain index,
which keeps every existing value; per-device uniqueness is checked where devices and cameras
are edited. Devices may adopt unknown cameras; their refused reads are kept for the admin."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0004_bounded_json_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="edgedevice",
            name="adopts_cameras",
            field=models.BooleanField(
                default=False,
                help_text="A read naming a camera id this device has no camera for creates that camera, inactive and without a position, for an operator to place (and stores the read). Off: such reads are refused.",
            ),
        ),
        migrations.AlterField(
            model_name="camera",
            name="external_id",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="The camera's id in the vendor's own payloads, if it differs from the slug (unique among each device's cameras: two devices may both call a camera 'front').",
                max_length=128,
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="RefusedRead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("refused_at", models.DateTimeField()),
                (
                    "camera",
                    models.CharField(
                        blank=True, help_text="As the device sent it.", max_length=128
                    ),
                ),
                (
                    "plate",
                    models.CharField(blank=True, help_text="As the device read it.", max_length=64),
                ),
                (
                    "captured_at",
                    models.CharField(blank=True, help_text="As the device sent it.", max_length=64),
                ),
                ("source", models.CharField(blank=True, max_length=32)),
                ("errors", models.JSONField(default=dict, help_text="The message(s) per field.")),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="refused_reads",
                        to="cameras.edgedevice",
                    ),
                ),
            ],
            options={
                "ordering": ("-refused_at", "-id"),
                "indexes": [
                    models.Index(
                        fields=["device", "-refused_at"], name="refused_read_device_newest"
                    )
                ],
            },
        ),
    ]
