"""The exporters API's `send` and `watchlists` fields and hit deliveries, per role; covert
lists stay hidden from those who may not see them."""

import json

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from exporters import services
from exporters.models import ExportDelivery, ExporterConfig
from watchlists.models import Hit
from watchlists.tests.factories import WatchlistFactory

pytestmark = pytest.mark.django_db

URL = "/api/exporters/"
DELIVERIES = "/api/exporter-deliveries/"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_operators_set_send_and_watchlists(operator_client, sink):
    listed = WatchlistFactory()
    created = operator_client.post(
        URL,
        {"name": "hits", "url": sink.url, "send": ["hits"], "watchlists": [listed.pk]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["send"] == ["hits"] and created.json()["watchlists"] == [listed.pk]
    default = operator_client.post(URL, {"name": "reads", "url": sink.url}, format="json")
    assert default.json()["send"] == ["reads"] and default.json()["watchlists"] == []

    url = f"{URL}{created.json()['id']}/"
    refused = operator_client.patch(url, {"send": ["reads", "health"]}, format="json")
    assert refused.status_code == 400 and "send" in refused.json()["errors"], refused.json()
    assert ExporterConfig.objects.get(name="hits").send == ["hits"]


def test_viewers_see_the_fields_and_may_not_change_them(viewer_client, exporter_factory):
    listed = WatchlistFactory()
    exporter = exporter_factory(send=["reads", "hits"])
    exporter.watchlists.set([listed])
    shown = viewer_client.get(f"{URL}{exporter.pk}/").json()
    assert shown["send"] == ["reads", "hits"] and shown["watchlists"] == [listed.pk]
    patched = viewer_client.patch(f"{URL}{exporter.pk}/", {"send": ["hits"]}, format="json")
    assert patched.status_code == 403
    assert ExporterConfig.objects.get().send == ["reads", "hits"]


def test_anonymous_and_devices_get_nothing(api_client, device_client, exporter_factory):
    exporter = exporter_factory(send=["hits"])
    for client, status in ((api_client, 401), (device_client, 403)):
        assert client.get(f"{URL}{exporter.pk}/").status_code == status
        assert client.patch(f"{URL}{exporter.pk}/", {"send": ["reads"]}).status_code == status
    assert ExporterConfig.objects.get().send == ["hits"]


def test_a_covert_list_is_hidden_from_operators_who_may_not_see_it(
    operator, operator_client, admin_user, sink
):
    covert = WatchlistFactory(name="Operation X", covert=True)
    plain = WatchlistFactory(name="Plain")
    admin = client_for(admin_user)
    created = admin.post(
        URL, {"name": "x", "url": sink.url, "watchlists": [covert.pk, plain.pk]}, format="json"
    )
    assert created.status_code == 201, created.json()
    url = f"{URL}{created.json()['id']}/"

    # Not shown to the operator, not choosable by them, and kept when they save.
    assert operator_client.get(url).json()["watchlists"] == [plain.pk]
    chosen = operator_client.post(
        URL, {"name": "y", "url": sink.url, "watchlists": [covert.pk]}, format="json"
    )
    assert chosen.status_code == 400 and "watchlists" in chosen.json()["errors"]
    kept = operator_client.patch(url, {"watchlists": []}, format="json")
    assert kept.status_code == 200 and kept.json()["watchlists"] == []
    assert list(ExporterConfig.objects.get(name="x").watchlists.all()) == [covert]
    assert sorted(admin.get(url).json()["watchlists"]) == [covert.pk]


def test_the_outbox_lists_a_hit_delivery_with_its_kind_and_hits(
    viewer_client, exporter_factory, camera
):
    exporter = exporter_factory(send=["hits"])
    listed = WatchlistFactory()
    hit = Hit.objects.create(
        watchlist=listed, camera=camera, subject="s", plate="AB12CDE", captured_at=timezone.now()
    )
    with transaction.atomic():
        delivery = ExportDelivery.objects.create(
            exporter=exporter, kind="hits", next_attempt_at=timezone.now()
        )
        delivery.hits.add(hit)
    [row] = viewer_client.get(DELIVERIES).json()["results"]
    assert row["kind"] == "hits" and row["hits"] == [str(hit.pk)] and row["events"] == []
    assert services.delivery_attempt(delivery_id=delivery.pk) == "delivered"


def test_the_outbox_names_a_covert_hit_only_to_those_who_may_see_its_list(
    viewer_client, admin_user, exporter_factory, camera
):
    exporter = exporter_factory(send=["hits"])
    covert = WatchlistFactory(covert=True)
    hit = Hit.objects.create(
        watchlist=covert, camera=camera, subject="s", plate="CO11VRT", captured_at=timezone.now()
    )
    delivery = ExportDelivery.objects.create(
        exporter=exporter, kind="hits", next_attempt_at=timezone.now()
    )
    delivery.hits.add(hit)
    ExportDelivery.objects.create(exporter=exporter, next_attempt_at=timezone.now())

    [row] = viewer_client.get(f"{DELIVERIES}?kind=hits").json()["results"]
    assert row["id"] == str(delivery.pk) and row["hits"] == []
    [row] = client_for(admin_user).get(f"{DELIVERIES}?hit={hit.pk}").json()["results"]
    assert row["hits"] == [str(hit.pk)]


def test_the_test_action_sends_a_sample_hit_to_an_exporter_of_hits_only(
    operator_client, exporter_factory, sink
):
    hits_only = exporter_factory(name="hits-only", send=["hits"])
    both = exporter_factory(name="both", send=["reads", "hits"])
    assert operator_client.post(f"{URL}{hits_only.pk}/test/").json()["ok"] is True
    assert operator_client.post(f"{URL}{both.pk}/test/").json()["ok"] is True

    sample_hit, sample_read = (json.loads(r.body) for r in sink.wait_for(2))
    assert sample_hit["kind"] == "hits" and sample_hit["hits"][0]["list"]["name"] == "Sample list"
    assert sample_hit["hits"][0]["read"]["plate"] == "AB12CDE"
    assert sample_read["kind"] == "reads" and sample_read["events"][0]["plate"] == "AB12CDE"
