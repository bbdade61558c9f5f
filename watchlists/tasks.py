"""Celery tasks of the watchlists app: they take ids and call services."""

from celery import shared_task

from .services.notify import HIT_EMAIL_TASK, hit_email_send


@shared_task(
    name=HIT_EMAIL_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def watchlist_hit_email(hit_id: str) -> int:
    """E-mail one hit to its list's addresses; a mail server that fails is retried for hours."""
    return hit_email_send(hit_id=hit_id)
