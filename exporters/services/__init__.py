"""Writes of the exporters app, one module per concern.

- `planning`: deliveries planned with the events, in the read's transaction (the after-store
  step that ExportersConfig.ready() registers); `queue`: every task message goes through it.
- `claims`: the claim only one worker wins, and the sweep; `attempts`: the task's work;
  `sending`: one request; `recording`: outcomes and the retry schedule.
- `actions`: what operators do (redeliver, enable, test; the secrets a form keeps).

The names callers use are available from this package.

A delivery's life: `pending` (due at next_attempt_at) → claimed `delivering` by exactly one
worker (an UPDATE that only one can win) → `delivered`, back to `pending` with a later
next_attempt_at, or `dead`. A worker that dies leaves `delivering` with an expired lease
(next_attempt_at), which the sweep queues again. Every task message only says "look at these
ids" (up to DELIVERIES_PER_MESSAGE of them); the rows decide whether anything is sent, so
duplicate or late messages are harmless. A message's deliveries are claimed, loaded and
recorded together, which is what makes a batch of reads cheap to export; a worker killed in
the middle of one leaves all of them to the sweep, and those it had already sent are sent
again (receivers drop the repeat by X-ANPR-Delivery).
"""

from .actions import (
    TestResult,
    deliveries_redeliver,
    exporter_address_check,
    exporter_secrets_resolve,
    exporter_set_enabled,
    exporter_test,
)
from .attempts import deliveries_attempt, delivery_attempt
from .claims import deliveries_sweep
from .planning import deliveries_plan
from .queue import DELIVERIES_PER_MESSAGE, deliveries_enqueue
from .recording import retry_delay, retry_schedule_span
from .sending import request_headers

__all__ = [
    "DELIVERIES_PER_MESSAGE",
    "TestResult",
    "deliveries_attempt",
    "deliveries_enqueue",
    "deliveries_plan",
    "deliveries_redeliver",
    "deliveries_sweep",
    "delivery_attempt",
    "exporter_address_check",
    "exporter_secrets_resolve",
    "exporter_set_enabled",
    "exporter_test",
    "request_headers",
    "retry_delay",
    "retry_schedule_span",
]
