"""Attacks on the watchlist features: covert leakage, roles, bad input. Each test is what an
attacker tried; those that found something are regressions of its fix."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from exporters.models import ExporterConfig
from watchlists.models import Hit, Watchlist

from .factories import RejectReasonFactory, WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_hit(watchlist, camera, **fields):
    values = {"subject": "x", "plate": "ABC123", "captured_at": timezone.now(), "snapshot": {}}
    values.update(fields)
    return Hit.objects.create(watchlist=watchlist, camera=camera, **values)


@pytest.fixture
def covert(camera, admin_user):
    listed = WatchlistFactory(name="Operation Nightjar", covert=True)
    listed.owners.add(admin_user)
    return listed


# --- Query strings and bodies: 4xx naming the field, never a 500 ------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "camera=%D9%A1",  # Arabic-Indic 1
        "camera=99999999999999999999999999",
        "watchlist=99999999999999999999999999",
        "watchlist=%D9%A1",
        "watchlist=-1",
        "captured_after=yesterday",
        "captured_before=2026-13-45T99:99:99Z",
        "captured_after=99999-01-01T00:00:00Z",
        "status=bogus",
        "category=%00",
        "plate=%00",
        "id=not-a-uuid",
        "ordering=snapshot",
        "page=99999999999999999999",
        "page=%D9%A1",
    ],
)
def test_junk_query_strings_on_hits_are_never_a_500(viewer_client, query):
    response = viewer_client.get(f"/api/hits/?{query}")
    assert response.status_code in (200, 400, 404), response.content
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "query",
    ["hit=junk", "event=%D9%A1", "exporter=99999999999999999999999", "kind=bogus", "hit="],
)
def test_junk_query_strings_on_the_outbox_are_never_a_500(viewer_client, query):
    response = viewer_client.get(f"/api/exporter-deliveries/?{query}")
    assert response.status_code in (200, 400), response.content
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("pk", ["not-a-uuid", "%D9%A1", "0" * 400])
def test_junk_hit_ids_are_404(operator_client, pk):
    assert operator_client.get(f"/api/hits/{pk}/").status_code == 404
    assert operator_client.post(f"/api/hits/{pk}/acknowledge/", {}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "outcome"),
        ({"outcome": ["accepted"]}, "outcome"),
        ({"outcome": {"a": 1}}, "outcome"),
        ({"outcome": None}, "outcome"),
        ({"outcome": "open"}, "outcome"),
        ({"outcome": "accepted", "note": {"x": 1}}, "note"),
        ({"outcome": "accepted", "note": "x" * 2001}, "note"),
        ({"outcome": "accepted", "note": "a\x00b"}, "note"),
        ({"outcome": "rejected"}, "reason"),
        ({"outcome": "rejected", "reason": "nope"}, "reason"),
        ({"outcome": "rejected", "reason": ["misread"]}, "reason"),
        ({"outcome": "accepted", "reason": "misread"}, "reason"),
        ({"outcome": "rejected", "reason": "x" * 41}, "reason"),
    ],
)
def test_bad_acknowledgements_name_the_field_and_leave_the_hit_open(
    operator_client, camera, body, field
):
    RejectReasonFactory(code="misread")
    hit = make_hit(WatchlistFactory(), camera)
    response = operator_client.post(f"/api/hits/{hit.pk}/acknowledge/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    hit.refresh_from_db()
    assert hit.status == Hit.Status.OPEN and hit.acknowledged_by is None


@pytest.mark.parametrize("raw", ['["accepted"]', '"accepted"', "[" * 100_000, "null"])
def test_acknowledge_bodies_that_are_not_objects_are_400(operator_client, camera, raw):
    hit = make_hit(WatchlistFactory(), camera)
    response = operator_client.post(
        f"/api/hits/{hit.pk}/acknowledge/", raw, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert Hit.objects.get(pk=hit.pk).status == Hit.Status.OPEN


@pytest.mark.parametrize(
    "value",
    [
        "a@b.c",
        {"a": "a@b.c"},
        [["a@b.c"]],
        ["a@b.c\nBcc: x@y.z"],
        ["a@b.c\r\nBcc: x@y.z"],
        ["not an address"],
        [f"u{n}@example.com" for n in range(10_000)],
        ["A@example.com", "a@example.com"],
    ],
)
def test_bad_notify_emails_are_refused_naming_the_field(operator_client, value):
    response = operator_client.post(
        "/api/watchlists/", {"name": "Mailing", "notify_emails": value}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "notify_emails" in response.json()["errors"]
    assert not Watchlist.objects.filter(name="Mailing").exists()


@pytest.mark.parametrize(
    "value",
    [
        "hits",
        {"hits": 1},
        [["hits"]],
        [],
        ["hits", "hits"],
        ["hits", "bogus"],
        ["reads"] * 10_000,
        [f"x{n}" for n in range(10_000)],
    ],
)
def test_bad_send_lists_are_refused_naming_the_field(operator_client, value):
    body = {"name": "Receiver", "url": "https://receiver.example/in", "send": value}
    response = operator_client.post("/api/exporters/", body, format="json")
    assert response.status_code == 400, response.content
    assert "send" in response.json()["errors"]
    assert not ExporterConfig.objects.filter(name="Receiver").exists()


@pytest.mark.parametrize(
    "colour",
    ["red", "#12345", "#1234567", "#12345g", '#123456" onload="x', "#123456;x", "#1234\n56"],
)
def test_a_list_colour_other_than_rrggbb_is_refused(operator_client, colour):
    response = operator_client.post(
        "/api/watchlists/", {"name": "Painted", "colour": colour}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "colour" in response.json()["errors"]


# --- Roles ---------------------------------------------------------------------------------------


def test_a_device_key_gets_nothing_of_hits(device_client, camera, client, device_with_key):
    hit = make_hit(WatchlistFactory(), camera)
    for url in ("/api/hits/", f"/api/hits/{hit.pk}/", "/api/hits/reject-reasons/"):
        assert device_client.get(url).status_code in (401, 403), url
    acknowledged = device_client.post(
        f"/api/hits/{hit.pk}/acknowledge/", {"outcome": "accepted"}, format="json"
    )
    assert acknowledged.status_code in (401, 403)
    assert device_client.get("/api/watchlists/").status_code in (401, 403)
    assert device_client.get("/api/exporter-deliveries/").status_code in (401, 403)
    assert Hit.objects.get(pk=hit.pk).status == Hit.Status.OPEN


def test_anonymous_gets_nothing_of_hits(api_client, camera):
    hit = make_hit(WatchlistFactory(), camera)
    for url in ("/api/hits/", f"/api/hits/{hit.pk}/", "/api/hits/reject-reasons/"):
        assert api_client.get(url).status_code in (401, 403), url
    response = api_client.post(f"/api/hits/{hit.pk}/acknowledge/", {"outcome": "accepted"})
    assert response.status_code in (401, 403)


def test_a_viewer_cannot_acknowledge(viewer_client, camera):
    hit = make_hit(WatchlistFactory(), camera)
    response = viewer_client.post(
        f"/api/hits/{hit.pk}/acknowledge/", {"outcome": "accepted"}, format="json"
    )
    assert response.status_code == 403
    assert Hit.objects.get(pk=hit.pk).status == Hit.Status.OPEN


# --- Covert lists --------------------------------------------------------------------------------


def test_a_covert_hit_is_not_reached_by_id_plate_camera_or_acknowledgement(
    operator_client, covert, camera
):
    hit = make_hit(covert, camera, plate="SECRET1")
    assert operator_client.get(f"/api/hits/{hit.pk}/").status_code == 404
    assert operator_client.get("/api/hits/?plate=SECRET1").json()["results"] == []
    assert operator_client.get(f"/api/hits/?camera={camera.pk}").json()["results"] == []
    acknowledged = operator_client.post(
        f"/api/hits/{hit.pk}/acknowledge/", {"outcome": "accepted"}, format="json"
    )
    assert acknowledged.status_code == 404
    assert Hit.objects.get(pk=hit.pk).status == Hit.Status.OPEN


def test_admin_pages_and_autocomplete_hide_covert_lists_entries_and_hits(operator, covert, camera):
    entry_add(covert, "SECRET1", description="Nightjar target")
    hit = make_hit(covert, camera, plate="SECRET1")
    client = Client()
    client.force_login(operator)
    for url in (
        "/admin/watchlists/watchlist/",
        "/admin/watchlists/watchlistentry/",
        "/admin/watchlists/hit/",
        f"/admin/watchlists/hit/?watchlist__id__exact={covert.pk}",
        "/admin/watchlists/watchlistentry/?q=SECRET",
        "/admin/exporters/exporterconfig/add/",
        "/admin/watchlists/watchlistentry/add/",
    ):
        text = client.get(url).content.decode()
        assert "Nightjar" not in text and "SECRET1" not in text, url
    for url in (
        f"/admin/watchlists/watchlist/{covert.pk}/change/",
        f"/admin/watchlists/hit/{hit.pk}/change/",
        f"/admin/watchlists/watchlist/{covert.pk}/history/",
    ):
        assert client.get(url).status_code in (302, 404), url
    for app, model, field in (
        ("exporters", "exporterconfig", "watchlists"),
        ("watchlists", "watchlistentry", "watchlist"),
        ("watchlists", "hit", "watchlist"),
        ("watchlists", "hit", "entry"),
    ):
        query = {"app_label": app, "model_name": model, "field_name": field, "term": ""}
        text = client.get("/admin/autocomplete/", query).content.decode()
        assert "Nightjar" not in text and "SECRET1" not in text, (model, field)


def test_an_exporter_filtered_by_a_covert_list_lists_it_only_to_those_who_see_it(
    operator_client, admin_user, covert
):
    open_list = WatchlistFactory(name="Open")
    exporter = ExporterConfig.objects.create(name="Receiver", url="https://r.example/")
    exporter.watchlists.add(covert, open_list)
    assert operator_client.get(f"/api/exporters/{exporter.pk}/").json()["watchlists"] == [
        open_list.pk
    ]
    assert "Nightjar" not in operator_client.get("/api/exporters/").content.decode()
    shown = client_for(admin_user).get(f"/api/exporters/{exporter.pk}/").json()
    assert sorted(shown["watchlists"]) == sorted([covert.pk, open_list.pk])


def test_deleting_a_covert_list_does_not_name_it_in_its_exporters_last_error(
    operator_client, admin_user, covert
):
    exporter = ExporterConfig.objects.create(name="Receiver", url="https://r.example/")
    exporter.watchlists.add(covert)
    assert client_for(admin_user).delete(f"/api/watchlists/{covert.pk}/").status_code == 204
    shown = operator_client.get(f"/api/exporters/{exporter.pk}/").json()
    assert shown["enabled"] is False
    assert "Nightjar" not in shown["last_error"]
    assert shown["last_error"].startswith("Disabled: its watchlist filter")


@pytest.fixture
def covert_exporter(covert, device, camera, ingest):
    """An exporter of reads and hits filtered by the covert list, after a listed read and an
    unlisted one."""
    entry_add(covert, "SECRET1")
    exporter = ExporterConfig.objects.create(
        name="Receiver", url="https://r.example/", send=["reads", "hits"]
    )
    exporter.watchlists.add(covert)
    listed = ingest("SECRET1")
    ingest("PUBLIC1")
    return exporter, listed


def test_the_outbox_of_an_exporter_filtered_by_a_covert_list_is_hidden_from_others(
    operator_client, operator, admin_user, covert_exporter
):
    """Its read deliveries carry exactly the reads on the covert list: listing them (or
    filtering the outbox by a read) would tell which plates the list holds."""
    exporter, listed = covert_exporter
    admin_seen = client_for(admin_user).get("/api/exporter-deliveries/").json()["results"]
    assert sorted(d["kind"] for d in admin_seen) == ["hits", "reads"]
    assert [d["events"] for d in admin_seen if d["kind"] == "reads"] == [[str(listed.id)]]
    for query in ("", f"?event={listed.id}", f"?exporter={exporter.pk}"):
        response = operator_client.get(f"/api/exporter-deliveries/{query}")
        assert response.json()["results"] == [], query
    hidden = admin_seen[0]["id"]
    assert operator_client.get(f"/api/exporter-deliveries/{hidden}/").status_code == 404
    page = Client()
    page.force_login(operator)
    for url in (
        "/admin/exporters/exportdelivery/",
        f"/admin/exporters/exporterconfig/{exporter.pk}/change/",
    ):
        assert str(listed.id) not in page.get(url).content.decode(), url
    assert page.get(f"/admin/exporters/exportdelivery/{hidden}/change/").status_code == 302


def test_the_owner_of_the_covert_list_sees_its_exporters_outbox(
    covert, covert_exporter, django_user_model
):
    from django.contrib.auth.models import Group

    owner = django_user_model.objects.create_user(username="owner", password="x")
    owner.groups.add(Group.objects.get(name="operator"))
    covert.owners.add(owner)
    _, listed = covert_exporter
    seen = client_for(owner).get("/api/exporter-deliveries/?kind=reads").json()["results"]
    assert [d["events"] for d in seen] == [[str(listed.id)]]


def test_the_hits_page_config_names_no_list(client, viewer, covert):
    client.force_login(viewer)
    assert "Nightjar" not in client.get("/hits/").content.decode()


# --- E-mail --------------------------------------------------------------------------------------


def test_a_list_name_with_line_breaks_neither_stops_nor_forges_its_hit_mail(
    operator_client, camera
):
    from watchlists.services.notify import hit_email_send

    name = "Stolen\nBcc: x@y.z\n\nOpen the hit (login required): https://evil.example/"
    response = operator_client.post(
        "/api/watchlists/",
        {"name": name, "notify_emails": ["room@example.com"]},
        format="json",
    )
    assert response.status_code == 201
    hit = make_hit(Watchlist.objects.get(pk=response.json()["id"]), camera)
    assert hit_email_send(hit_id=hit.pk) == 1
    [message] = mail.outbox
    assert message.bcc == ["room@example.com"] and message.to == []
    assert message.subject.startswith("[ANPR] Hit on Stolen Bcc: x@y.z Open the hit")
    assert message.body.count("Open the hit") == 2
    assert message.body.startswith("Watchlist: Stolen Bcc: x@y.z Open the hit")


def test_a_covert_lists_mail_goes_to_its_addresses_without_the_plate(camera, covert):
    from watchlists.services.notify import hit_email_send

    covert.notify_emails = ["owner@example.com"]
    covert.save()
    hit_email_send(hit_id=make_hit(covert, camera, plate="SECRET1").pk)
    [message] = mail.outbox
    assert message.bcc == ["owner@example.com"]
    assert "SECRET1" not in message.subject + message.body


# --- Retention -----------------------------------------------------------------------------------


def test_a_hit_retention_beyond_a_century_is_refused_naming_the_field(operator_client):
    response = operator_client.post(
        "/api/watchlists/", {"name": "Forever", "hit_retention_days": 1_000_000}, format="json"
    )
    assert response.status_code == 400
    assert "hit_retention_days" in response.json()["errors"]
    assert not Watchlist.objects.filter(name="Forever").exists()
    accepted = {"name": "Century", "hit_retention_days": 36_500}
    assert operator_client.post("/api/watchlists/", accepted, format="json").status_code == 201


def test_a_huge_hit_retention_stored_before_the_limit_does_not_stop_the_purge(camera):
    from watchlists.services.retention import hits_purge

    WatchlistFactory(name="Long", hit_retention_days=1_000_000)  # past what a date can hold
    short = WatchlistFactory(name="Short", hit_retention_days=1)
    make_hit(short, camera, captured_at=timezone.now() - timedelta(days=3))
    assert hits_purge(now=timezone.now(), batch_size=100) == 1


def test_an_exporter_filtered_by_a_covert_list_is_not_moved_by_others(
    operator, operator_client, admin_user, covert
):
    """Else a new URL would take the list's reads and hits to anyone who may edit exporters;
    other changes stay theirs (the list is kept)."""
    exporter = ExporterConfig.objects.create(name="Receiver", url="https://r.example/in?t=1")
    exporter.watchlists.add(covert)
    url = f"/api/exporters/{exporter.pk}/"
    moved = operator_client.patch(url, {"url": "https://evil.example/"}, format="json")
    assert moved.status_code == 400
    assert "a list you may not see" in moved.json()["errors"]["url"][0]
    shown = operator_client.get(url).json()
    kept = operator_client.put(url, {**shown, "batch_size": 7}, format="json")
    assert kept.status_code == 200, kept.json()
    exporter.refresh_from_db()
    assert exporter.url == "https://r.example/in?t=1" and exporter.batch_size == 7
    page = Client()
    page.force_login(operator)
    change = f"/admin/exporters/exporterconfig/{exporter.pk}/change/"
    form = {
        "name": "Receiver",
        "kind": "webhook",
        "enabled": "on",
        "url": "https://evil.example/",
        "method": "POST",
        "headers": "{}",
        "payload_format": "json",
        "batch_size": "7",
        "auth_type": "none",
        "send": '["reads"]',
        "timeout_seconds": "10",
        "max_attempts": "5",
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
    }
    refused = page.post(change, form)
    assert refused.status_code == 200 and "a list you may not see" in refused.content.decode()
    exporter.refresh_from_db()
    assert exporter.url == "https://r.example/in?t=1"
    assert page.post(change, {**form, "url": shown["url"]}).status_code == 302
    by_admin = client_for(admin_user).patch(url, {"url": "https://new.example/"}, format="json")
    assert by_admin.status_code == 200
    plain = ExporterConfig.objects.create(name="Plain", url="https://p.example/")
    moved_plain = operator_client.patch(
        f"/api/exporters/{plain.pk}/", {"url": "https://q.example/"}, format="json"
    )
    assert moved_plain.status_code == 200


def test_a_camera_retention_beyond_a_century_is_refused_naming_the_field(operator_client, camera):
    url = f"/api/cameras/{camera.pk}/"
    response = operator_client.patch(url, {"retention_days": 1_000_000}, format="json")
    assert response.status_code == 400
    assert "retention_days" in response.json()["errors"]
    assert operator_client.patch(url, {"retention_days": 36_500}, format="json").status_code == 200


def test_a_huge_camera_retention_stored_before_the_limit_stops_neither_ingest_nor_purge(
    camera, ingest
):
    """It made every read of the camera a 500 and stopped the whole nightly purge."""
    from events.services.retention import events_purge

    type(camera).objects.filter(pk=camera.pk).update(retention_days=1_000_000)
    short = WatchlistFactory(name="Short", hit_retention_days=1)
    make_hit(short, camera, captured_at=timezone.now() - timedelta(days=3))
    assert ingest("AB12CDE").id is not None
    assert events_purge(dry_run=True).steps["hits"] == 1
    assert events_purge().steps["hits"] == 1


# --- Live stream ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_viewer_filtering_by_the_covert_hits_camera_gets_the_read_but_no_hit(
    viewer, django_user_model
):
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import Group

    from cameras.services import device_create
    from cameras.tests.factories import CameraFactory
    from events.tests.stream import ingest, next_frame, open_stream, read, run, session_headers

    north = CameraFactory(slug="north")
    device, _ = device_create(name="gate", cameras=[north])
    owner = django_user_model.objects.create_user(username="owner", password="x")
    owner.groups.add(Group.objects.get(name="viewer"))
    listed = WatchlistFactory(name="Operation Nightjar", covert=True)
    listed.owners.add(owner)
    entry_add(listed, "SECRET1")

    async def frames(stream):
        got = []
        while not await stream.receive_nothing(timeout=0.5):
            got.append(await next_frame(stream))
        return got

    async def scenario():
        watcher = await open_stream(
            await sync_to_async(session_headers)(viewer), f"cameras={north.pk}"
        )
        owning = await open_stream(
            await sync_to_async(session_headers)(owner), f"cameras={north.pk}"
        )
        await watcher.send_json_to({"type": "filter", "cameras": [north.pk], "zones": []})
        await ingest(device, read(north, "SECRET1"))
        got = await frames(watcher)
        seen = [f["type"] for f in got]
        assert "hit" not in seen and "event.created" in seen
        assert "Nightjar" not in str(got)
        assert "hit" in [f["type"] for f in await frames(owning)]
        await watcher.disconnect()
        await owning.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/exporters/", "watchlists"),
        ("/api/exporters/", "cameras"),
        ("/api/watchlists/", "owners"),
        ("/api/watchlists/", "cameras"),
    ],
)
def test_ten_thousand_ids_are_refused_before_they_are_looked_up(
    operator_client, operator, camera, url, field
):
    """10,000 ids of one list kept a worker busy for 74 seconds (one lookup an id)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    one = {"watchlists": WatchlistFactory().pk, "cameras": camera.pk, "owners": operator.pk}
    body = {"name": "Many", "url": "https://r.example/", field: [one[field]] * 10_000}
    with CaptureQueriesContext(connection) as queries:
        response = operator_client.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field] == ["At most 1000 ids."]
    assert len(queries) < 20
    for form in ("json", "multipart"):
        twice = operator_client.post(url, {**body, field: [one[field]] * 900}, format=form)
        assert twice.json()["errors"][field] == ["Name each id once."], form
