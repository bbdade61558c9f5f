"""E-mail of hits: one message per hit of a list with addresses, sent by a task after the
read commits, naming list, camera, time and category and linking to the hit, never the
plate."""

import pytest
from django.core import mail

from watchlists.models import Hit
from watchlists.services import notify
from watchlists.tasks import watchlist_hit_email

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db
LISTS = "/api/watchlists/"


@pytest.fixture
def queued(monkeypatch):
    """The hit ids whose e-mail task was queued (the broker is not involved)."""
    ids = []
    monkeypatch.setattr(notify, "_emails_enqueue", ids.extend)
    return ids


def test_a_hit_of_a_notifying_list_is_mailed_once_without_the_plate(
    ingest, queued, settings, django_capture_on_commit_callbacks, camera
):
    settings.PUBLIC_BASE_URL = "https://anpr.example.com"
    listed = WatchlistFactory(
        name="Stolen", notify_emails=["desk@example.com", "duty@example.com"], time_zone="UTC"
    )
    entry_add(listed, "AB12CDE", category="stolen_vehicle", description="Blue Golf")
    quiet = WatchlistFactory(name="Quiet")
    entry_add(quiet, "AB12CDE")

    with django_capture_on_commit_callbacks(execute=True):
        ingest("AB12CDE")
    hit = Hit.objects.get(watchlist=listed)
    assert queued == [str(hit.pk)]  # the quiet list's hit sends nothing

    assert watchlist_hit_email(str(hit.pk)) == 1
    [message] = mail.outbox
    # Blind copies: the recipients do not see each other's addresses.
    assert message.bcc == ["desk@example.com", "duty@example.com"] and message.to == []
    assert "desk@example.com" not in message.message().as_string()
    assert "Stolen" in message.subject and camera.name in message.subject
    body = message.body
    assert "Watchlist: Stolen" in body and f"Camera: {camera.name}" in body
    assert "Category: Stolen vehicle" in body
    assert f"{hit.captured_at:%Y-%m-%d %H:%M:%S} (UTC)" in body
    assert f"https://anpr.example.com/admin/watchlists/hit/{hit.pk}/change/" in body
    for secret in ("AB12CDE", "Blue Golf"):
        assert secret not in body and secret not in message.subject


def test_nothing_is_mailed_for_a_rolled_back_read_or_a_deleted_hit(
    ingest, queued, monkeypatch, django_capture_on_commit_callbacks
):
    from events.services import ingest as ingest_module

    listed = WatchlistFactory(notify_emails=["desk@example.com"])
    entry_add(listed, "RO11BCK")

    def fail(**kwargs):
        raise RuntimeError("the read's transaction fails after matching")

    monkeypatch.setattr(
        ingest_module, "after_store_run", _then(ingest_module.after_store_run, fail)
    )
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        ingest("RO11BCK")
    assert queued == [] and not Hit.objects.exists()

    assert watchlist_hit_email("00000000-0000-0000-0000-000000000000") == 0
    assert mail.outbox == []


def _then(first, second):
    def run(**kwargs):
        first(**kwargs)
        second(**kwargs)

    return run


def test_a_failing_mail_server_makes_the_task_retry(ingest, queued, monkeypatch):
    from celery.exceptions import Retry

    listed = WatchlistFactory(notify_emails=["desk@example.com"])
    entry_add(listed, "SM11TPX")
    ingest("SM11TPX")

    def down(self, *args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", down)
    with pytest.raises((Retry, ConnectionRefusedError)):
        watchlist_hit_email.apply(args=[str(Hit.objects.get().pk)], throw=True)


@pytest.mark.parametrize(
    "addresses",
    [
        "desk@example.com",
        ["not an address"],
        ["desk@example.com", "DESK@example.com"],
        [f"a{n}@example.com" for n in range(21)],
        [1],
    ],
)
def test_bad_addresses_are_refused_naming_the_field(operator_client, addresses):
    response = operator_client.post(LISTS, {"name": "x", "notify_emails": addresses}, format="json")
    assert response.status_code == 400, response.json()
    assert "notify_emails" in response.json()["errors"]


def test_roles_on_notify_emails(operator_client, viewer_client, api_client, device_client):
    created = operator_client.post(
        LISTS, {"name": "x", "notify_emails": ["desk@example.com"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["notify_emails"] == ["desk@example.com"]
    url = f"{LISTS}{created.json()['id']}/"
    assert viewer_client.get(url).json()["notify_emails"] == ["desk@example.com"]
    assert viewer_client.patch(url, {"notify_emails": []}, format="json").status_code == 403
    assert api_client.patch(url, {"notify_emails": []}, format="json").status_code == 401
    assert device_client.patch(url, {"notify_emails": []}, format="json").status_code == 403
