"""The watchlists API as users see it: roles, validation naming the field, entries, hits and
their acknowledgement, covert lists."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.tests.factories import CameraFactory
from watchlists.models import Hit, Watchlist, WatchlistEntry

from .factories import RejectReasonFactory, WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db
LISTS = "/api/watchlists/"


def entries_url(watchlist):
    return f"{LISTS}{watchlist.pk}/entries/"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_hit(watchlist, camera, **fields):
    values = {"subject": "x", "plate": "ABC123", "captured_at": timezone.now(), "snapshot": {}}
    values.update(fields)
    return Hit.objects.create(watchlist=watchlist, camera=camera, **values)


# --- Roles --------------------------------------------------------------------------------


def test_anonymous_and_devices_are_refused(api_client, device_client):
    listed = WatchlistFactory()
    for url in (LISTS, entries_url(listed), "/api/hits/"):
        assert api_client.get(url).status_code == 401, url
        assert device_client.get(url).status_code == 403, url


def test_viewers_read_and_are_refused_writes(viewer_client, camera):
    listed = WatchlistFactory()
    entry_add(listed, "AB12CD")
    hit = make_hit(listed, camera)
    assert viewer_client.get(LISTS).json()["count"] == 1
    assert viewer_client.get(entries_url(listed)).json()["results"][0]["plate"] == "AB12CD"
    assert viewer_client.get("/api/hits/").json()["count"] == 1
    refused = [
        viewer_client.post(LISTS, {"name": "x"}, format="json"),
        viewer_client.patch(f"{LISTS}{listed.pk}/", {"enabled": False}, format="json"),
        viewer_client.post(entries_url(listed), {"plate": "ZZ99"}, format="json"),
        viewer_client.post(f"/api/hits/{hit.pk}/acknowledge/", {"outcome": "accepted"}),
        viewer_client.post(f"{entries_url(listed)}import/", {"file": _csv("plate\nAA11\n")}),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert Hit.objects.get().status == "open"


def test_operators_edit_lists_and_entries(operator_client, operator):
    created = operator_client.post(
        LISTS, {"name": "Stolen", "match_strategy": "ocr", "edit_budget": 1}, format="json"
    )
    assert created.status_code == 201, created.json()
    listed = Watchlist.objects.get()
    entry = operator_client.post(
        entries_url(listed),
        {"plate": "ab-12 cde", "category": "stolen_vehicle", "reference": "case 7"},
        format="json",
    )
    assert entry.status_code == 201, entry.json()
    assert entry.json()["plate"] == "AB12CDE" and entry.json()["plate_raw"] == "ab-12 cde"
    assert entry.json()["created_by"] == operator.username
    again = operator_client.post(entries_url(listed), {"plate": "AB12CDE"}, format="json")
    assert again.status_code == 400
    unknown = operator_client.post(
        entries_url(listed), {"plate": "XY1", "category": "spaceship"}, format="json"
    )
    assert unknown.status_code == 400 and "category" in unknown.json()["errors"]


# --- Bad lists ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "allow"}, "cameras"),
        ({"schedule_windows": [{"start": "08:00", "end": "08:00"}]}, "schedule_windows"),
        (
            {
                "schedule_windows": [
                    {"start": "08:00", "end": "12:00"},
                    {"start": "11:00", "end": "13:00"},
                ]
            },
            "schedule_windows",
        ),
        ({"schedule_windows": [{"start": "8", "end": "9"}]}, "schedule_windows"),
        ({"schedule_windows": [{"start": "08:00", "end": 900}]}, "schedule_windows"),
        ({"schedule_windows": [{"start": "08:00", "end": "9:00 "}]}, "schedule_windows"),
        ({"schedule_windows": ["08:00-09:00"]}, "schedule_windows"),
        ({"schedule_weekdays": [7]}, "schedule_weekdays"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"match_strategy": "exact", "edit_budget": 1}, "edit_budget"),
        ({"edit_budget": 3}, "edit_budget"),
        ({"directions": ["sideways"]}, "directions"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_lists_are_refused_naming_the_field(operator_client, body, field):
    response = operator_client.post(LISTS, {"name": "bad", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_an_allow_list_with_cameras_is_accepted(operator_client, camera):
    body = {"name": "residents", "kind": "allow", "cameras": [camera.pk]}
    assert operator_client.post(LISTS, body, format="json").status_code == 201


@pytest.mark.parametrize("pattern", ["**", "*?*", "?*", "*?", "A*", "?A?*"])
def test_a_pattern_with_fewer_than_two_letters_or_digits_is_refused(operator_client, pattern):
    listed = WatchlistFactory(match_strategy="pattern")
    response = operator_client.post(entries_url(listed), {"plate": pattern}, format="json")
    assert response.status_code == 400 and "plate" in response.json()["errors"]
    assert not WatchlistEntry.objects.exists()


def test_a_pattern_of_only_stars_is_refused(operator_client):
    listed = WatchlistFactory(match_strategy="pattern")
    ok = operator_client.post(entries_url(listed), {"plate": "ab?1*"}, format="json")
    assert ok.status_code == 201 and ok.json()["plate"] == "AB?1*"


def test_a_pattern_list_refuses_entries_beyond_its_limit(operator_client, monkeypatch):
    from watchlists import keys

    monkeypatch.setattr(keys, "PATTERN_MAX_ENTRIES", 2)
    listed = WatchlistFactory(match_strategy="pattern")
    for pattern in ("AB*", "CD*"):
        assert operator_client.post(entries_url(listed), {"plate": pattern}).status_code == 201
    refused = operator_client.post(entries_url(listed), {"plate": "EF*"}, format="json")
    assert refused.status_code == 400, refused.content
    assert "at most 2" in refused.json()["errors"]["plate"][0]
    assert WatchlistEntry.objects.count() == 2


def test_a_list_with_a_budget_refuses_entries_beyond_its_size_one_at_a_time(
    operator_client, monkeypatch
):
    from watchlists import keys

    monkeypatch.setitem(keys.BUDGET_MAX_ENTRIES, 1, 2)
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    for plate in ("AAA111", "BBB222"):
        assert operator_client.post(entries_url(listed), {"plate": plate}).status_code == 201
    refused = operator_client.post(entries_url(listed), {"plate": "CCC333"}, format="json")
    assert refused.status_code == 400, refused.content
    assert "at most 2" in refused.json()["errors"]["plate"][0]
    assert WatchlistEntry.objects.count() == 2
    first = WatchlistEntry.objects.get(plate="AAA111")
    changed = operator_client.patch(
        f"{entries_url(listed)}{first.pk}/", {"description": "still fits"}, format="json"
    )
    assert changed.status_code == 200, changed.content


def test_a_budget_change_reindexes_the_entries(operator_client, ingest):
    listed = WatchlistFactory(match_strategy="ocr")
    entry_add(listed, "ABC123")
    ingest("ABX123", captured_at=timezone.now() - timedelta(seconds=30))
    assert not Hit.objects.exists()
    changed = operator_client.patch(f"{LISTS}{listed.pk}/", {"edit_budget": 1}, format="json")
    assert changed.status_code == 200, changed.json()
    ingest("ABX123")
    assert Hit.objects.count() == 1


# --- Hits ---------------------------------------------------------------------------------


def test_hits_filter_by_list_category_camera_status_time_and_plate(viewer_client):
    north, south = CameraFactory(), CameraFactory()
    stolen, staff = WatchlistFactory(), WatchlistFactory()
    now = timezone.now()
    make_hit(stolen, north, plate="AAA111", category="stolen_vehicle", captured_at=now)
    make_hit(staff, south, plate="BBB222", category="staff", captured_at=now - timedelta(days=2))
    make_hit(stolen, south, plate="CCC333", category="wanted", status="accepted", captured_at=now)

    def plates(query):
        response = viewer_client.get("/api/hits/", query)
        assert response.status_code == 200, response.json()
        return sorted(hit["plate"] for hit in response.json()["results"])

    assert plates({"watchlist": stolen.pk}) == ["AAA111", "CCC333"]
    assert plates({"category": "staff"}) == ["BBB222"]
    assert plates({"camera": south.pk}) == ["BBB222", "CCC333"]
    assert plates({"status": "open"}) == ["AAA111", "BBB222"]
    assert plates({"captured_after": (now - timedelta(days=1)).isoformat()}) == [
        "AAA111",
        "CCC333",
    ]
    assert plates({"plate": "ccc-333"}) == ["CCC333"]
    bad = viewer_client.get("/api/hits/", {"captured_after": "yesterday"})
    assert bad.status_code == 400


def test_a_hit_is_acknowledged_once(operator_client, operator, camera):
    hit = make_hit(WatchlistFactory(), camera)
    RejectReasonFactory(code="misread")
    url = f"/api/hits/{hit.pk}/acknowledge/"
    first = operator_client.post(
        url, {"outcome": "rejected", "reason": "misread", "note": "a 0 read as O"}, format="json"
    )
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "rejected" and first.json()["reason"] == "misread"
    assert first.json()["acknowledged_by"] == operator.username
    second = operator_client.post(url, {"outcome": "accepted"}, format="json")
    assert second.status_code == 409
    assert Hit.objects.get().status == "rejected"
    assert hit.entry is None or WatchlistEntry.objects.filter(pk=hit.entry_id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": "rejected"}, "reason"),
        ({"outcome": "rejected", "reason": "nonsense"}, "reason"),
        ({"outcome": "accepted", "reason": "misread"}, "reason"),
    ],
)
def test_bad_acknowledgements_are_refused_naming_the_field(operator_client, camera, body, field):
    hit = make_hit(WatchlistFactory(), camera)
    RejectReasonFactory(code="misread")
    response = operator_client.post(f"/api/hits/{hit.pk}/acknowledge/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert Hit.objects.get().status == "open"


def test_covert_lists_hits_are_seen_only_by_admins_and_owners(
    operator_client, operator, admin_user, viewer, django_user_model, camera
):
    covert = WatchlistFactory(covert=True)
    owned = WatchlistFactory(covert=True)
    owned.owners.set([viewer])
    open_list = WatchlistFactory()
    for listed in (covert, owned, open_list):
        make_hit(listed, camera, plate=f"P{listed.pk}")

    def lists_seen(user):
        hits = client_for(user).get("/api/hits/").json()["results"]
        return {hit["watchlist"] for hit in hits}

    assert lists_seen(operator) == {open_list.pk}
    assert lists_seen(viewer) == {owned.pk, open_list.pk}
    assert lists_seen(admin_user) == {covert.pk, owned.pk, open_list.pk}
    hidden = Hit.objects.get(watchlist=covert)
    assert operator_client.get(f"/api/hits/{hidden.pk}/").status_code == 404
    assert operator_client.get(entries_url(covert)).status_code == 404
    # Filtering by a covert list's id does not reveal that it exists.
    by_covert = operator_client.get(f"/api/hits/?watchlist={covert.pk}")
    by_nothing = operator_client.get("/api/hits/?watchlist=999999")
    assert by_covert.status_code == by_nothing.status_code
    assert by_covert.json() == by_nothing.json()
    mine = client_for(viewer).get(f"/api/hits/?watchlist={owned.pk}").json()["results"]
    assert [hit["watchlist"] for hit in mine] == [owned.pk]


def _csv(text: str, name: str = "list.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, "text/csv")


def test_deleting_a_list_removes_its_entries_and_hits(operator_client, camera, ingest):
    from watchlists.models import WatchlistEntryKey

    doomed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    kept = WatchlistFactory(match_strategy="exact")
    entry_add(doomed, "DEL1234")
    entry_add(kept, "DEL1234")
    ingest("DEL1234")
    assert Hit.objects.count() == 2 and WatchlistEntryKey.objects.exists()
    assert operator_client.delete(f"{LISTS}{doomed.pk}/").status_code == 204
    assert list(WatchlistEntry.objects.values_list("watchlist", flat=True)) == [kept.pk]
    assert not WatchlistEntryKey.objects.exists()
    assert list(Hit.objects.values_list("watchlist", flat=True)) == [kept.pk]


def test_a_hit_outlives_its_entry_with_its_snapshot(operator_client, ingest):
    listed = WatchlistFactory(match_strategy="exact")
    entry = entry_add(listed, "OUT123", description="Red van")
    ingest("OUT123")
    assert operator_client.delete(f"{entries_url(listed)}{entry.pk}/").status_code == 204
    hit = Hit.objects.get()
    assert hit.entry is None and hit.snapshot["entry"]["description"] == "Red van"
