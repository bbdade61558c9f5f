"""After-store steps: what other apps do when reads are stored, without events importing them.

Events stores reads; other apps react (exporters plan deliveries; the coming passes,
watchlists and device-health apps will join passes, write hits and update health). Each
registers one `AfterStoreStep` in its `AppConfig.ready()`:

    from events.after_store import AfterStoreStep, after_store_register

    class WatchlistsConfig(AppConfig):
        def ready(self):
            after_store_register(AfterStoreStep(name="watchlists", stored=hits_write, ...))

and names itself in `ORDER`, the one place that says which step runs before which (a pass
is joined before it is matched against watchlists, and hits exist before exporters plan
deliveries of them). Every way of storing a read calls `after_store_run`: `plate_events_ingest`
for new events and `plate_event_update` for events refined in place (a step says whether it
wants those), so a caller such as Frigate's tracked-object upsert does nothing special.

`stored` runs inside the read's transaction, in `ORDER`, with the stored events: what it
writes commits or rolls back with them. `committed` runs after the commit (robust: a failure
there is logged and cannot undo a stored read); work that must never run for a rolled-back
read, such as queueing tasks, belongs there or in the step's own `transaction.on_commit`.

The hot path: a lone read with no image is one INSERT without BEGIN/COMMIT when no step has
work for it. A step that often has nothing to do declares `work_sql`, a SQL boolean asked
along with the device's cameras (alias `c` for the camera row) in the query the ingest makes
anyway, e.g. "is any exporter enabled?". The answer is kept with the device cache
(cameras/directory.py), so the tables it reads must notify that cache when they change (a
trigger, as exporters/migrations/0003 adds). A step without `work_sql` always runs. A step
may also `screen` the reads in-process before the transaction (the watchlists' entry index:
no hit among them, no work), so a camera it watches keeps the one INSERT for reads
it has nothing to do with.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import transaction

#: The order steps run in, by name. A step not named here cannot register.
ORDER = ("passes", "watchlists", "exporters", "device_health")


@dataclass(frozen=True)
class AfterStoreStep:
    """One app's reaction to stored reads (see the module docstring)."""

    name: str
    #: Inside the read's transaction: stored(events=[...], created=True|False).
    stored: Callable[..., None] | None = None
    #: After commit: committed(events=[...], created=True|False).
    committed: Callable[..., None] | None = None
    #: Also for events updated in place (plate_event_update), not only for new ones.
    updates: bool = False
    #: SQL boolean: whether the step may have work for reads of camera `c`. None: always.
    work_sql: Callable[[], str] | None = None
    #: In-process, before anything is stored: screen(events=[...]) says whether the step may
    #: have work for these reads after all (unsaved events, camera and zone loaded). None: yes.
    screen: Callable[..., bool] | None = None

    @property
    def work_column(self) -> str:
        """The attribute of a camera that holds the answer of `work_sql`."""
        return f"after_store_{self.name}"


_steps: dict[str, AfterStoreStep] = {}
#: after_store_steps() and after_store_work_sql(), built once after the last registration
#: (every ingest asks for them).
_built: dict[str, object] = {}


def after_store_register(step: AfterStoreStep) -> None:
    """Add a step (from an AppConfig.ready()); registering a name again replaces its step."""
    if step.name not in ORDER:
        raise ValueError(f"After-store step {step.name!r} is not named in after_store.ORDER.")
    _steps[step.name] = step
    _built.clear()


def after_store_unregister(name: str) -> None:
    """Remove a step (tests that store reads without an app's reaction)."""
    _steps.pop(name, None)
    _built.clear()


def after_store_steps() -> list[AfterStoreStep]:
    """The registered steps, in ORDER."""
    if "steps" not in _built:
        _built["steps"] = [_steps[name] for name in ORDER if name in _steps]
    return _built["steps"]


def after_store_work_sql() -> dict[str, str]:
    """{camera attribute: SQL boolean} for the steps that declare `work_sql`: the columns the
    device's camera query adds (cameras.selectors.cameras_of_device)."""
    if "work_sql" not in _built:
        _built["work_sql"] = {
            step.work_column: step.work_sql() for step in after_store_steps() if step.work_sql
        }
    return _built["work_sql"]


def after_store_pending(*, cameras: Sequence, created: bool = True) -> list[AfterStoreStep]:
    """The steps with possible work for events of these cameras. A camera loaded without the
    work columns (not through the device's camera query) counts as having work."""
    return [
        step
        for step in after_store_steps()
        if (created or step.updates)
        and (
            step.work_sql is None
            or any(getattr(camera, step.work_column, True) for camera in cameras)
        )
    ]


def after_store_screened(*, steps: list[AfterStoreStep], events: list) -> list[AfterStoreStep]:
    """The steps (from after_store_pending) that their `screen` keeps for these events."""
    return [step for step in steps if step.screen is None or step.screen(events=events)]


def after_store_run(*, events: list, created: bool, steps: list[AfterStoreStep]) -> None:
    """Run `steps` (from after_store_pending) for stored events, inside the caller's
    transaction; their `committed` parts are queued for after the commit."""
    if not events:
        return
    for step in steps:
        if step.stored is not None:
            step.stored(events=events, created=created)
        if step.committed is not None:
            transaction.on_commit(
                lambda step=step: step.committed(events=events, created=created), robust=True
            )
