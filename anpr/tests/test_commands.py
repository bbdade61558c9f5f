"""The operator's commands: demo data, effective settings without secrets, a device key and
an API token from the command line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from anpr.management.commands.show_config import redacted
from cameras.models import Camera, EdgeDevice, ModelConfig, SensorSettings, Zone
from events.models import PlateEvent

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_demo_data_loads_a_city_once(settings):
    out, _ = run("demo_data", "--events", "300", "--days", "3")
    assert Camera.objects.count() == 8 and Zone.objects.count() >= 8
    assert EdgeDevice.objects.count() == 2
    assert ModelConfig.objects.filter(is_active=True).exists()
    assert SensorSettings.objects.count() == 8
    assert PlateEvent.objects.count() == 300
    for camera in Camera.objects.all():  # all on the map, in Amsterdam
        assert 52.3 < camera.latitude < 52.4 and 4.85 < camera.longitude < 4.95
        camera.full_clean()
    for zone in Zone.objects.all():
        zone.full_clean()  # valid GeoJSON, as the admin would require
    # Every read belongs to a device that may post for its camera, and plates are normalized.
    for event in PlateEvent.objects.select_related("device", "camera")[:100]:
        assert event.device.cameras.filter(pk=event.camera_id).exists()
        assert event.plate and event.plate == "".join(c for c in event.plate_raw if c.isalnum())
    with pytest.raises(CommandError, match="loaded already"):
        run("demo_data")
    assert PlateEvent.objects.count() == 300


def test_demo_device_keys_work_for_ingest():
    out, _ = run("demo_data", "--events", "0")
    key = next(line.split()[-1] for line in out.splitlines() if "demo-edge-north" in line)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"camera": "damrak", "plate": "GF-123-K", "captured_at": "2026-01-05T10:00:00Z"}
    assert client.post("/api/events/ingest/", body, format="json").status_code == 201
    body["camera"] = "museumplein"  # the south box's camera
    assert client.post("/api/events/ingest/", body, format="json").status_code == 400


def test_show_config_redacts_secrets(settings):
    settings.SECRET_KEY = "very-secret-key-for-this-test"
    settings.METRICS_TOKEN = "scrape-token-for-this-test"
    settings.DATABASE_URL = "postgres://anpr:db-password-here@db:5432/anpr"
    settings.CHANNEL_LAYERS = {
        "default": {"CONFIG": {"hosts": ["redis://:db-password-here@redis:6379/0"]}}
    }
    out, _ = run("show_config", "--all")
    for secret in ("very-secret-key", "scrape-token", "db-password-here"):
        assert secret not in out
    assert 'SECRET_KEY = "***"' in out
    assert "postgres://anpr:***@db:5432/anpr" in out
    assert "redis://:***@redis:6379/0" in out
    assert redacted({"default": {"PASSWORD": "pw", "USER": "anpr"}}) == {
        "default": {"PASSWORD": "***", "USER": "anpr"}
    }
    assert "EVENT_RETENTION_DAYS = " in out
    # Settings about passwords are not passwords: an operator checking them must see them.
    assert "django.contrib.auth.password_validation.MinimumLengthValidator" in out
    assert f"PASSWORD_RESET_TIMEOUT = {settings.PASSWORD_RESET_TIMEOUT}" in out
    assert 'PASSWORD_HASHERS = "***"' not in out
    assert redacted(["a-fallback-key"], "SECRET_KEY_FALLBACKS") == "***"
    assert redacted("pw", "EMAIL_HOST_PASSWORD") == redacted("t", "METRICS_TOKEN") == "***"
    as_json, _ = run("show_config", "--json")
    assert "very-secret-key" not in as_json and '"INGEST_THROTTLE_RATE"' in as_json


def test_create_device_prints_a_working_key_once(camera):
    out, err = run("create_device", "gate-box-9", "--camera", camera.slug)
    key = out.strip()
    assert key.startswith("anprd_") and key not in err
    device = EdgeDevice.objects.get(name="gate-box-9")
    assert list(device.cameras.all()) == [camera]
    assert key not in str(list(device.keys.values()))  # only a digest is kept
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    body = {"plate": "AB12CDE", "captured_at": "2026-01-05T10:00:00Z"}
    assert client.post("/api/events/ingest/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate-box-9", "--camera", "nowhere"], "No camera"),
        (["  "], "needs a name"),
    ],
)
def test_create_device_refuses_bad_input_and_creates_nothing(camera, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_device", *args)
    assert not EdgeDevice.objects.exists()


def test_create_device_refuses_a_taken_name(device_with_key):
    with pytest.raises(CommandError, match="exists already"):
        run("create_device", "gate-box-1")
    assert EdgeDevice.objects.count() == 1


def test_create_api_token_acts_with_the_users_role(viewer):
    out, _ = run("create_api_token", viewer.username, "--name", "nightly report")
    token = out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/cameras/").status_code == 200
    refused = client.post("/api/cameras/", {"slug": "x", "name": "X"}, format="json")
    assert refused.status_code == 403  # a viewer's token cannot write
    with pytest.raises(CommandError, match="No active user"):
        run("create_api_token", "nobody")


def test_the_migrations_describe_the_models():
    """A model change without its migration would reach production as a schema the code
    does not expect (e.g. an index declared in Meta that no database has)."""
    out, _ = run("makemigrations", "--check", "--dry-run")
    assert "No changes detected" in out
