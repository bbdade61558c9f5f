"""Other apps' purge steps (events/purge_steps.py) run in every purge, after the events' own
deletions: a failing step is recorded on the run and cannot hold back those."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cameras.models import RefusedRead
from events.models import PurgeRun
from events.purge_steps import PurgeStep, purge_step_register, purge_step_unregister
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from events.services.retention import events_purge

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_step():
    def purge(**kwargs):
        raise RuntimeError("the app's table is locked")

    purge_step_register(PurgeStep(name="zz_failing", purge=purge))
    yield
    purge_step_unregister("zz_failing")


def test_a_failing_step_is_recorded_and_the_events_own_deletions_still_happen(
    device_with_key, failing_step, settings
):
    settings.EVENT_RETENTION_DAYS = 30
    device, _ = device_with_key
    read = ReadIn(plate="AB12CDE", captured_at=timezone.now(), zone="no such zone")
    plate_events_ingest(device=device, reads=[read])
    RefusedRead.objects.update(expires_at=timezone.now() - timedelta(days=1))

    with pytest.raises(RuntimeError):
        events_purge(trigger="schedule")

    assert not RefusedRead.objects.exists()  # personal data that was due went all the same
    [run] = PurgeRun.objects.all()
    assert "the app's table is locked" in run.error
