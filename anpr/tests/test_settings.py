"""Start-up configuration: each mode from the environment, loud failures on bad values."""

import subprocess
from pathlib import Path

import pytest

from anpr.tests.fresh_process import settings_printed


def _start(env_overrides: dict, data_dir: Path) -> subprocess.CompletedProcess:
    return settings_printed(
        "s.DEBUG, s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.CELERY_BROKER_URL.split(':')[0]",
        data_dir,
        **env_overrides,
    )


def test_embedded_mode_needs_no_variables_and_keeps_its_generated_key(tmp_path):
    first = _start({}, tmp_path)
    assert first.returncode == 0, first.stderr
    debug, engine, layer, broker = first.stdout.strip().split("|")
    assert debug == "False"
    assert engine == "django.db.backends.sqlite3"
    assert layer == "channels.layers.InMemoryChannelLayer"
    assert broker == "filesystem"
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert _start({}, tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


def test_production_mode_switches_to_postgres_and_redis(tmp_path):
    result = _start(
        {
            "DATABASE_URL": "postgres://u:p@db.example:5432/anpr",
            "REDIS_URL": "redis://cache.example:6379/0",
            "SECRET_KEY": "k" * 50,
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, engine, layer, broker = result.stdout.strip().split("|")
    assert engine == "anpr.postgresql"  # Django's backend with a socket health check
    assert layer == "channels_redis.core.RedisChannelLayer"
    assert broker == "redis"


def test_database_url_options_are_kept_beside_the_ones_the_settings_add(tmp_path):
    # sslmode=verify-full dropped would fall back to libpq's "prefer": no certificate check.
    for mode in ("persistent", "pool"):
        result = settings_printed(
            "sorted(s.DATABASES['default']['OPTIONS'].items())",
            tmp_path,
            DATABASE_URL="postgres://u:p@db.example:5432/anpr?sslmode=verify-full&connect_timeout=3",
            SECRET_KEY="k" * 50,
            DB_CONNECTIONS=mode,
        )
        assert result.returncode == 0, result.stderr
        assert "('sslmode', 'verify-full')" in result.stdout, mode
        assert "('connect_timeout', 3)" in result.stdout, mode
        assert "('prepare_threshold', " in result.stdout, mode


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = _start({"DATABASE_URL": "postgres://u:p@db.example:5432/anpr"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DB_CONN_MAX_AGE", "ten"),
        ("DATABASE_URL", "mysql//nope"),
        ("REDIS_URL", "http://localhost"),
        ("TIME_ZONE", "Mars/Olympus"),
        ("DB_CONNECTIONS", "many"),
        ("CHANNEL_CAPACITY", "0"),
        ("PUBLIC_BASE_URL", "anpr.example.com"),
        ("PUBLIC_BASE_URL", "https://anpr.example.com/?site=1"),
        ("EXPORTER_IMAGE_LINK_SECONDS", "0"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(tmp_path, name, value):
    result = _start({name: value}, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


def test_database_password_is_not_printed_in_the_error(tmp_path):
    result = _start({"DATABASE_URL": "mysql://user:hunter2@db/anpr"}, tmp_path)
    assert result.returncode != 0
    assert "hunter2" not in result.stderr


def _deploy_warnings(tmp_path, **env) -> set[str]:
    """The ids `manage.py check --deploy` reports with production settings and `env`."""
    production = {
        "DATABASE_URL": "postgres://u:p@db.example:5432/anpr",
        "SECRET_KEY": "production-" + "k3y-0f-f1fty-d1fferent-ch4racters-" * 2,
        "HTTPS": "true",
        "ALLOWED_HOSTS": "anpr.example.org",
    }
    result = settings_printed(
        "*sorted(m.id for m in __import__('django.core.checks', fromlist=['run_checks'])"
        ".run_checks(include_deployment_checks=True))",
        tmp_path,
        **production,
        **env,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().split("|")) - {""}


def test_hsts_subdomains_and_preload_are_settings_that_clear_the_deploy_check(tmp_path):
    assert {"security.W005", "security.W021"} <= _deploy_warnings(tmp_path)  # off by default
    both = {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    assert _deploy_warnings(tmp_path, **both) == set()
