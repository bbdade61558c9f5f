"""What every HTTP answer gets: JSON errors under /api/, CORS for configured origins, GZip,
security settings behind TLS, a per-device ingest limit and a limit on admin sign-ins."""

import gzip

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from anpr.tests.fresh_process import settings_printed
from core.security import _failures_key

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_a_json_404_and_other_pages_stay_html(client):
    response = client.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")


def test_wrong_method_on_an_api_url_is_a_json_405(operator_client, camera):
    response = operator_client.post(f"/api/cameras/{camera.pk}/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.json()["detail"]


@pytest.mark.urls("anpr.tests.urls")
def test_an_unhandled_error_under_api_is_a_json_500_with_the_request_id(db):
    client = Client(raise_request_exception=False)
    response = client.get("/api/test-boom/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "server_error"
    assert response["X-Request-ID"]
    assert "RuntimeError" not in response.content.decode()  # no traceback leaks


def test_cors_allows_configured_origins_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dashboard.example.org"]
    preflight = {
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization",
    }
    allowed = client.options(
        "/api/cameras/", HTTP_ORIGIN="https://dashboard.example.org", **preflight
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://dashboard.example.org"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    other = client.options("/api/cameras/", HTTP_ORIGIN="https://evil.example.net", **preflight)
    assert "Access-Control-Allow-Origin" not in other
    simple = client.get("/api/cameras/", HTTP_ORIGIN="https://dashboard.example.org")
    assert "X-Request-ID" in simple["Access-Control-Expose-Headers"]


def test_large_answers_are_gzipped_for_clients_that_accept_it(viewer_client, camera):
    from cameras.tests.factories import CameraFactory

    CameraFactory.create_batch(30, description="a camera on the ring road " * 5)
    response = viewer_client.get("/api/cameras/", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert b'"count":31' in gzip.decompress(response.content)


def _settings_in_fresh_process(tmp_path, **env_overrides) -> str:
    done = settings_printed(
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None)",
        tmp_path,
        **env_overrides,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_behind_tls_cookies_are_secure_and_hsts_and_redirect_are_on(tmp_path):
    assert _settings_in_fresh_process(tmp_path) == "False|False|False|0|None"
    assert _settings_in_fresh_process(
        tmp_path, HTTPS="true", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"
    ) == ("True|True|True|31536000|('HTTP_X_FORWARDED_PROTO', 'https')")


def test_security_headers_are_sent(client, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/health", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.urls("anpr.tests.urls")
def test_ingest_throttle_answers_429_json_per_device(settings, device_with_key):
    from cameras.services import device_create

    settings.INGEST_THROTTLE_RATE = "2/min"
    _, key = device_with_key
    busy = APIClient()
    busy.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert [busy.post("/api/test-throttled/").status_code for _ in range(2)] == [201, 201]
    refused = busy.post("/api/test-throttled/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0

    _, other_key = device_create(name="gate-box-2")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {other_key.key}")
    assert other.post("/api/test-throttled/").status_code == 201  # its own allowance


@pytest.mark.urls("anpr.tests.urls")
@pytest.mark.redis
def test_the_limit_survives_a_dropped_redis_connection_and_a_redis_outage_lets_devices_in(
    settings, device_with_key, redis_url, caplog
):
    import redis

    from core.throttling import _redis_counter

    settings.REDIS_URL = redis_url
    settings.INGEST_THROTTLE_RATE = "2/min"
    _, key = device_with_key
    busy = APIClient()
    busy.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert busy.post("/api/test-throttled/").status_code == 201
    # Redis drops the throttle's connection (a restart, a failover, an idle timeout): the
    # next request reconnects and is counted.
    own_id = _redis_counter.redis.command(redis_url, "CLIENT", "ID")
    assert redis.Redis.from_url(redis_url).client_kill_filter(_id=own_id) == 1
    assert busy.post("/api/test-throttled/").status_code == 201
    assert busy.post("/api/test-throttled/").status_code == 429
    # No Redis at all: devices keep reporting (counted nowhere), and the log says why.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    assert busy.post("/api/test-throttled/").status_code == 201
    assert "could not reach Redis" in caplog.text


@pytest.mark.redis
def test_a_busy_device_is_counted_in_redis_every_percent_of_its_limit_or_fifty_ms(
    settings, redis_url
):
    # Each process adds to the shared count in batches (one Redis command per 1% of the limit
    # or per SYNC_SECONDS), and always knows its own requests: the count it sees is exact.
    import time

    import redis

    from core.throttling import SYNC_SECONDS, _count

    settings.REDIS_URL = redis_url
    key = f"throttle:ingest:test-{time.time()}:1"
    shared = redis.Redis.from_url(redis_url)
    seen = [_count(key, 60, 1000) for _ in range(25)]  # 1% of 1000: every 10 requests
    assert seen == list(range(1, 26))
    assert 16 <= int(shared.get(key)) <= 25  # at most 9 (under 1% of the limit) not yet sent
    time.sleep(SYNC_SECONDS + 0.01)
    assert _count(key, 60, 1000) == 26
    assert int(shared.get(key)) == 26 and 0 < shared.ttl(key) <= 60
    shared.incrby(key, 100)  # another process's requests
    time.sleep(SYNC_SECONDS + 0.01)
    assert _count(key, 60, 1000) == 127


@pytest.fixture
def staff_login(admin_user, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    keys = [_failures_key(admin_user.username, ip) for ip in ("127.0.0.1", "198.51.100.7")]
    cache.delete_many(keys)  # the Redis cache outlives a test run
    yield admin_user.username
    cache.delete_many(keys)


SIGN_IN_PAGES = ["/admin/login/?next=/admin/", "/login/"]  # the admin's and the live map's


def _sign_in(username, password, address="127.0.0.1", page=SIGN_IN_PAGES[0]):
    client = Client(REMOTE_ADDR=address)
    return client.post(page, {"username": username, "password": password})


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_sign_in_is_locked_after_repeated_wrong_passwords(staff_login, page):
    assert _sign_in(staff_login, "pw-for-tests-only", page=page).status_code == 302  # works
    for _ in range(3):
        wrong = _sign_in(staff_login, "guess", page=page)
        assert wrong.status_code == 200 and b"correct username" in wrong.content
    locked = _sign_in(staff_login, "pw-for-tests-only", page=page)
    assert locked.status_code == 200  # the form again, not a redirect into the admin
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session
    # Another address is not locked out by someone else's guessing.
    other = _sign_in(staff_login, "pw-for-tests-only", address="198.51.100.7", page=page)
    assert other.status_code == 302


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_a_post_without_a_password_counts_and_does_not_clear_the_failures(staff_login, page):
    for _ in range(2):
        _sign_in(staff_login, "guess", page=page)
    empty = _sign_in(staff_login, "", page=page)
    assert empty.status_code == 200 and "_auth_user_id" not in empty.wsgi_request.session
    _sign_in(staff_login, "guess", page=page)  # a reset count would allow two more guesses
    locked = _sign_in(staff_login, "pw-for-tests-only", page=page)
    assert locked.status_code == 200 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_only_a_successful_sign_in_clears_earlier_failures(staff_login, page):
    for _ in range(2):
        _sign_in(staff_login, "guess", page=page)
    assert _sign_in(staff_login, "pw-for-tests-only", page=page).status_code == 302
    for _ in range(2):
        _sign_in(staff_login, "guess", page=page)
    assert _sign_in(staff_login, "pw-for-tests-only", page=page).status_code == 302
    for _ in range(2):
        _sign_in(staff_login, "guess")
    assert _sign_in(staff_login, "pw-for-tests-only").status_code == 302
