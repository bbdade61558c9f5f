"""Purge steps: other apps' personal data that retention deletes, without events importing them.

The nightly purge and `manage.py purge_events` run `events_purge`
(events/services/retention.py); an app keeping rows with plates of its own (watchlists' hits)
registers one `PurgeStep` in its `AppConfig.ready()`:

    from events.purge_steps import PurgeStep, purge_step_register

    purge_step_register(PurgeStep(name="hits", purge=hits_purge))

`purge(now=..., camera=..., batch_size=..., dry_run=...)` deletes what is past its retention
(in a dry run: counts it) and returns the count, which the run's summary and its `PurgeRun`
record carry under the step's name. `camera` is None, or the one camera the run is limited to.
A step works in its own short transactions, as the events' purge does. Steps run after the
events' own deletions, so one that fails (recorded as the run's error) cannot hold them back.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PurgeStep:
    """One app's part of the purge (see the module docstring)."""

    name: str
    #: purge(now=datetime, camera=Camera | None, batch_size=int, dry_run=bool) -> count.
    purge: Callable[..., int]


_steps: dict[str, PurgeStep] = {}


def purge_step_register(step: PurgeStep) -> None:
    """Add a step (from an AppConfig.ready()); registering a name again replaces its step."""
    _steps[step.name] = step


def purge_step_unregister(name: str) -> None:
    """Remove a step (tests)."""
    _steps.pop(name, None)


def purge_steps() -> list[PurgeStep]:
    """The registered steps, by name (a fixed order for the run's summary)."""
    return [_steps[name] for name in sorted(_steps)]
