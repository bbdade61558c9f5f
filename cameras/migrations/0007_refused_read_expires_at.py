"""A refused read expires with its camera's retention (bounded by REFUSED_READS_KEEP_DAYS when
that keeps events for ever); those already kept expire as the global period said they would."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def expiry_fill(apps, schema_editor):
    RefusedRead = apps.get_model("cameras", "RefusedRead")
    days = settings.EVENT_RETENTION_DAYS or settings.REFUSED_READS_KEEP_DAYS
    RefusedRead.objects.update(expires_at=F("refused_at") + timedelta(days=days))


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0006_device_key_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="refusedread",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(expiry_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="refusedread",
            name="expires_at",
            field=models.DateTimeField(db_index=True, help_text="When retention deletes it."),
        ),
    ]
