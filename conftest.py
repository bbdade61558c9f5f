"""Fixtures shared by every app's tests: users in each role, an edge device with its key, an
API client, and the rule that in CI (CI=true) a skipped test is a failure."""

import os

import pytest
from rest_framework.test import APIClient

IN_CI = os.environ.get("CI", "").lower() == "true"
_skipped_in_ci: list[str] = []


def pytest_runtest_logreport(report):
    if IN_CI and report.skipped:
        _skipped_in_ci.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    if _skipped_in_ci:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("With CI=true a skipped test fails the run:", red=True)
            for line in _skipped_in_ci:
                reporter.write_line(f"  {line}", red=True)


def require_service(name: str, reason: str):
    """Skip a test whose service is missing, except in CI, where that fails it. The skip
    is reported at the test's line (`pytest -rs` lists them), not this one."""
    __tracebackhide__ = True
    message = f"needs {name}: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is an error)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Every test writes images under its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _reads_of_any_age(settings):
    """Ingest refuses reads older than the retention period, and the published vendor samples
    (and many tests) are dated months or years ago: retention is off unless a test sets it
    (events/tests/test_too_old_reads.py, test_retention.py)."""
    settings.EVENT_RETENTION_DAYS = 0


@pytest.fixture(autouse=True)
def _no_device_cache(settings):
    """The device cache learns of changes when they commit, and most tests never commit:
    it is off unless a test turns it on (cameras/tests/test_device_directory.py)."""
    from cameras.directory import device_directory

    settings.DEVICE_CACHE_SECONDS = 0
    device_directory.clear()


@pytest.fixture
def redis_url(settings):
    """REDIS_URL of a Redis server that answers (skips, or fails in CI, where there is none)."""
    import redis

    url = settings.REDIS_URL or os.environ.get("TEST_REDIS_URL", "")
    if not url:
        require_service("Redis", "REDIS_URL is not set")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    return url


def _user_with_role(django_user_model, role: str, **extra):
    from django.contrib.auth.models import Group

    extra.setdefault("username", f"{role}-user")
    user = django_user_model.objects.create_user(
        password="pw-for-tests-only", is_staff=role != "viewer", **extra
    )
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db, django_user_model):
    return _user_with_role(django_user_model, "viewer")


@pytest.fixture
def operator(db, django_user_model):
    return _user_with_role(django_user_model, "operator")


@pytest.fixture
def admin_user(db, django_user_model):
    return _user_with_role(django_user_model, "admin", is_superuser=True)


@pytest.fixture
def staff_viewer(db, django_user_model):
    """A staff user with only the viewer role's view_ permissions: the admin, read-only."""
    user = _user_with_role(django_user_model, "viewer", username="staff-viewer")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def viewer_client(viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    return client


@pytest.fixture
def operator_client(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def camera(db):
    from cameras.tests.factories import CameraFactory

    return CameraFactory()


@pytest.fixture
def device_with_key(db, camera):
    """(device, key) for a device that posts for `camera`."""
    from cameras.services import device_create

    device, issued = device_create(name="gate-box-1", cameras=[camera])
    return device, issued.key


@pytest.fixture
def device_client(device_with_key):
    """An API client that sends the device key as `Authorization: Token <key>`."""
    _, key = device_with_key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
