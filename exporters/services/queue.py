"""Task messages of the exporters: every queueing of deliveries goes through here.

Messages are sent by task name, not through the task object, so that the services that
queue deliveries and the tasks that call those services do not import each other.
"""

import logging

from celery import current_app

logger = logging.getLogger(__name__)

#: The task that attempts a message's deliveries (exporters/tasks.py registers it).
DELIVERIES_ATTEMPT_TASK = "exporters.tasks.exporter_deliveries_attempt"

#: Deliveries per task message: a batch of reads becomes a few messages, which the worker
#: slots share, and each message's task claims, loads and records its deliveries together.
DELIVERIES_PER_MESSAGE = 20


def deliveries_enqueue(ids, *, countdown: float | None = None) -> None:
    """Send task messages. A broker that is down costs nothing but time: the sweep queues
    these rows again once their message is presumed lost."""
    ids = [str(delivery_id) for delivery_id in ids]
    if not ids:
        return
    retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
    try:
        with current_app.producer_or_acquire() as producer:  # one connection for all
            for start in range(0, len(ids), DELIVERIES_PER_MESSAGE):
                current_app.send_task(
                    DELIVERIES_ATTEMPT_TASK,
                    (ids[start : start + DELIVERIES_PER_MESSAGE],),
                    countdown=countdown,
                    producer=producer,
                    retry_policy=retry_policy,
                )
    except Exception:  # the broker's errors vary by transport; none may undo a commit
        logger.warning(
            "Could not queue export deliveries (%d); the sweep will queue them.",
            len(ids),
            exc_info=True,
        )
