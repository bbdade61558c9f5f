"""Configuration writes shared by the API and the admin, under concurrency where it matters."""

import threading

import pytest
from django.db import connection

from cameras.models import ModelConfig, SensorSettings
from cameras.services import model_config_activate, sensor_settings_set_enabled
from cameras.tests.factories import ModelConfigFactory, SensorSettingsFactory
from conftest import require_service


@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_exactly_one_active_version():
    """Two operators activate different versions of one model at the same moment: both
    succeed in turn (the model's versions are locked), and one version is active."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent writers (SQLite serializes writes)")
    versions = [
        ModelConfigFactory(name="plate-ocr", version=f"1.{n}.0", is_active=n == 0) for n in range(3)
    ]
    for round_ in range(5):
        pair = (versions[1], versions[2]) if round_ % 2 else (versions[2], versions[1])
        start = threading.Barrier(len(pair))
        errors = []

        def activate(model_config, start=start, errors=errors):
            from django.db import connection as thread_connection

            try:
                start.wait(5)
                model_config_activate(model_config=model_config)
            except Exception as error:  # reported below
                errors.append(repr(error))
            finally:
                thread_connection.close()

        threads = [threading.Thread(target=activate, args=(v,)) for v in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert ModelConfig.objects.filter(name="plate-ocr", is_active=True).count() == 1


@pytest.mark.django_db
def test_activation_returns_the_row_as_stored():
    old = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    new = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    stale_updated_at = new.updated_at
    assert model_config_activate(model_config=new).is_active is True
    assert new.updated_at > stale_updated_at
    old.refresh_from_db()
    assert old.is_active is False and old.updated_at > stale_updated_at


@pytest.mark.django_db
def test_sensor_switch_counts_only_rows_it_changed():
    on, off = SensorSettingsFactory(), SensorSettingsFactory(enabled=False)
    everything = SensorSettings.objects.all()
    changed = sensor_settings_set_enabled(sensor_settings=everything, enabled=True)
    assert changed == 1
    on.refresh_from_db()
    off.refresh_from_db()
    assert on.enabled and off.enabled
