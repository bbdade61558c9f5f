"""AI model versions over the API: CRUD, filters, one active version per model (also when
two requests race), and activation."""

import threading
import time

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from cameras.models import ModelConfig
from cameras.tests.factories import ModelConfigFactory, SensorSettingsFactory
from conftest import require_service

URL = "/api/model-configs/"
SHA = "ab" * 32


def _payload(**overrides):
    body = {
        "name": "plate-ocr",
        "version": "2.0.0",
        "task": "ocr",
        "framework": "onnx",
        "artifact_url": "https://models.example.com/plate-ocr-2.0.0.onnx",
        "artifact_sha256": SHA,
        "parameters": {"min_confidence": 0.6},
    }
    body.update(overrides)
    return body


@pytest.mark.django_db
def test_operator_creates_reads_updates_and_deletes_a_model_config(operator_client):
    created = operator_client.post(URL, _payload(), format="json")
    assert created.status_code == 201, created.json()
    config_id = created.json()["id"]
    detail = operator_client.get(f"{URL}{config_id}/").json()
    assert detail["parameters"] == {"min_confidence": 0.6} and detail["is_active"] is False

    patched = operator_client.patch(
        f"{URL}{config_id}/", {"release_notes": "Better on night plates."}, format="json"
    )
    assert patched.status_code == 200
    assert ModelConfig.objects.get().release_notes == "Better on night plates."

    assert operator_client.delete(f"{URL}{config_id}/").status_code == 204
    assert not ModelConfig.objects.exists()


@pytest.mark.django_db
def test_filters_by_name_task_active_and_camera(operator_client, camera):
    ModelConfigFactory(name="plate-ocr", version="1.0.0", task="ocr")
    used = ModelConfigFactory(name="plate-ocr", version="1.1.0", task="ocr", is_active=True)
    ModelConfigFactory(name="plate-det", version="3.0.0", task="detector", is_active=True)
    SensorSettingsFactory(camera=camera, model_config=used)

    def versions(**params):
        rows = operator_client.get(URL, params).json()["results"]
        return {f"{r['name']} {r['version']}" for r in rows}

    assert versions(name="plate-ocr") == {"plate-ocr 1.0.0", "plate-ocr 1.1.0"}
    assert versions(task="detector") == {"plate-det 3.0.0"}
    assert versions(is_active="true") == {"plate-ocr 1.1.0", "plate-det 3.0.0"}
    assert versions(is_active="false") == {"plate-ocr 1.0.0"}
    assert versions(camera=camera.id) == {"plate-ocr 1.1.0"}
    assert versions(search="det") == {"plate-det 3.0.0"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_payload(version="2.0"), "version"),
        (_payload(artifact_sha256="xyz"), "artifact_sha256"),
        (_payload(parameters=[1, 2]), "parameters"),
        (_payload(task="painter"), "task"),
        (_payload(artifact_url="not a url"), "artifact_url"),
    ],
)
def test_bad_values_are_refused_naming_the_field(operator_client, body, field):
    response = operator_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not ModelConfig.objects.exists()


@pytest.mark.django_db
def test_duplicate_version_is_refused_naming_the_version(operator_client):
    ModelConfigFactory(name="plate-ocr", version="2.0.0")
    response = operator_client.post(URL, _payload(), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"version": ["This model already has this version."]}
    assert ModelConfig.objects.count() == 1


@pytest.mark.django_db
def test_second_active_version_is_refused_naming_is_active(operator_client):
    first = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    response = operator_client.post(URL, _payload(is_active=True), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "is_active": ["Another version of this model is already active."]
    }
    assert ModelConfig.objects.count() == 1

    inactive = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    response = operator_client.patch(f"{URL}{inactive.id}/", {"is_active": True}, format="json")
    assert response.status_code == 400 and "is_active" in response.json()["errors"]
    assert list(ModelConfig.objects.filter(is_active=True)) == [first]
    # Another model may have its own active version.
    other = operator_client.post(URL, _payload(name="plate-det", is_active=True), format="json")
    assert other.status_code == 201


@pytest.mark.django_db
def test_activate_switches_the_active_version(operator_client):
    old = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    new = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    other = ModelConfigFactory(name="plate-det", version="1.0.0", is_active=True)

    response = operator_client.post(f"{URL}{new.id}/activate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is True and response.json()["version"] == "1.1.0"
    assert set(ModelConfig.objects.filter(is_active=True)) == {new, other}
    old.refresh_from_db()
    assert old.is_active is False

    # Activating the active version again changes nothing.
    assert operator_client.post(f"{URL}{new.id}/activate/").status_code == 200
    assert set(ModelConfig.objects.filter(is_active=True)) == {new, other}


@pytest.mark.django_db
def test_viewer_and_device_cannot_activate_or_write(viewer_client, device_client):
    old = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    new = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    for client in (viewer_client, device_client):
        response = client.post(f"{URL}{new.id}/activate/")
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
        assert client.post(URL, _payload(), format="json").status_code == 403
        assert client.delete(f"{URL}{old.id}/").status_code == 403
    assert list(ModelConfig.objects.filter(is_active=True)) == [old]
    assert ModelConfig.objects.count() == 2


@pytest.mark.django_db
def test_unknown_model_config_is_a_json_404(operator_client):
    for response in (
        operator_client.get(f"{URL}999999/"),
        operator_client.post(f"{URL}999999/activate/"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
def test_deleting_a_model_config_used_by_a_sensor_is_a_409(operator_client):
    used = ModelConfigFactory()
    SensorSettingsFactory(model_config=used)
    response = operator_client.delete(f"{URL}{used.id}/")
    assert response.status_code == 409 and "sensor settings" in response.json()["detail"]
    assert ModelConfig.objects.filter(pk=used.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_second_active_version_is_a_400_not_a_500(operator):
    """Another transaction inserts an active version that our request cannot see yet: the
    request passes validation, its INSERT waits on the unique index, and when the other
    transaction commits the database refuses it. The answer is still a 400 on is_active."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent writers (SQLite serializes writes)")
    inserted, finished = threading.Event(), threading.Event()
    failure = []

    def other_transaction():
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO cameras_modelconfig (name, version, task, framework, "
                    "artifact_url, artifact_sha256, parameters, is_active, release_notes, "
                    "created_at, updated_at) VALUES ('plate-ocr', '1.0.0', 'ocr', '', '', '', "
                    "'{}', true, '', now(), now())"
                )
            inserted.set()
            # Commit only once our request is waiting on the index entry we hold.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with other.cursor() as cursor:
                    # Statistics views are a snapshot per transaction unless cleared.
                    cursor.execute("SELECT pg_stat_clear_snapshot()")
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'INSERT INTO %%cameras_modelconfig%%'"
                    )
                    if cursor.fetchone()[0]:
                        break
                time.sleep(0.05)
            else:
                failure.append("the request never waited on the index")
            other.commit()
        except Exception as error:  # reported by the main thread
            failure.append(repr(error))
        finally:
            other.close()
            finished.set()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert inserted.wait(10)
    client = APIClient()
    client.force_authenticate(operator)
    response = client.post(URL, _payload(is_active=True), format="json")
    finished.wait(30)
    thread.join(5)

    assert not failure, failure
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "is_active": ["Another version of this model is already active."]
    }
    assert list(ModelConfig.objects.values_list("version", "is_active")) == [("1.0.0", True)]
