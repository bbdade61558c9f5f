"""`manage.py frigate_listen`: subscribe to a Frigate NVR's MQTT broker and ingest its plate
reads for one edge device, through the same dialect and services as POST /api/ingest/frigate/.

Frigate publishes, and does not POST, so this process is the "device" side: it runs next to
the web server (or on the Frigate box), stays connected, reconnects with back-off when the
broker goes away, and stops cleanly on SIGTERM or Ctrl-C.
"""

import logging
import os
import signal
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.db.models import Q

from cameras.models import EdgeDevice
from core.ids import ascii_integer
from events.api.device_ingest import json_document
from events.dialects.frigate import read_from_message
from events.services.tracked_objects import tracked_object_ingest

logger = logging.getLogger("events.frigate")

#: The topics (under the prefix) that carry plate reads.
TOPICS = ("events", "tracked_object_update")


class FrigateListener:
    """One MQTT subscription feeding one device's events. `run()` blocks until `stop()`."""

    def __init__(
        self,
        *,
        device_id: int,
        host: str,
        port: int = 1883,
        topic_prefix: str = "frigate",
        username: str = "",
        password: str = "",
        tls: bool = False,
        ca_certs: str | None = None,
        keepalive: int = 60,
    ):
        self.device_id = device_id
        self.host, self.port, self.keepalive = host, port, keepalive
        self.topic_prefix = topic_prefix.rstrip("/")
        self.subscribed = threading.Event()
        self.handled = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"anpr-frigate-{uuid.uuid4().hex[:12]}"
        )
        if username:
            self.client.username_pw_set(username, password or None)
        if tls:
            self.client.tls_set(ca_certs=ca_certs, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def run(self) -> None:
        """Connect (retrying until the broker answers) and handle messages until stopped."""
        self.client.connect_async(self.host, self.port, self.keepalive)
        self.client.loop_forever(retry_first_connection=True)

    def stop(self) -> None:
        """Safe from a signal handler or another thread: run() returns soon after."""
        self.client.disconnect()

    # --- paho callbacks (on the thread running run()) ---

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            logger.warning("MQTT broker %s:%s refused us: %s", self.host, self.port, reason_code)
            return
        logger.info("Connected to MQTT broker %s:%s", self.host, self.port)
        # Subscribing on every (re)connect: a broker without a session forgets subscriptions.
        client.subscribe([(f"{self.topic_prefix}/{topic}", 1) for topic in TOPICS])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.subscribed.clear()
        if reason_code.is_failure:
            logger.warning("Lost the MQTT broker (%s); reconnecting.", reason_code)

    def _on_message(self, client, userdata, message):
        close_old_connections()  # a long-lived process: drop connections the database closed
        try:
            self.handle(message.topic, message.payload)
        except Exception:  # one bad message or a database hiccup must not end the listener
            logger.exception("Frigate message on %s was not ingested", message.topic)
        finally:
            self.handled += 1

    def handle(self, topic: str, payload: bytes) -> list:
        """Ingest one message; a malformed one is logged and skipped (MQTT has no reply)."""
        device = EdgeDevice.objects.filter(pk=self.device_id, is_active=True).first()
        if device is None:
            logger.error(
                "Device %s is gone or inactive; message on %s dropped.", self.device_id, topic
            )
            return []
        try:
            frigate_read = read_from_message(json_document(payload))
        except ValidationError as error:
            logger.warning("Frigate message on %s refused: %s", topic, error)
            return []
        if frigate_read is None:
            return []  # no plate: nothing to store
        results = [
            tracked_object_ingest(device=device, read=frigate_read.read, ended=frigate_read.ended)
        ]
        for result in results:
            if result.errors:
                logger.warning("Frigate read on %s rejected: %s", topic, result.errors)
            else:
                logger.info("Frigate read on %s: %s %s", topic, result.status, result.id)
        return results


def device_find(reference: str) -> EdgeDevice:
    match = Q(name=reference) | (
        Q(pk=ascii_integer(reference)) if ascii_integer(reference) is not None else Q()
    )
    device = EdgeDevice.objects.filter(match).first()
    if device is None:
        raise CommandError(f"No edge device named (or with id) {reference!r}.")
    if not device.is_active:
        raise CommandError(f"Edge device {device.name!r} is inactive.")
    return device


class Command(BaseCommand):
    help = (
        "Subscribe to a Frigate MQTT broker (<prefix>/events and <prefix>/tracked_object_update) "
        "and store its plate reads as events of one edge device. Reconnects; stops on "
        "SIGTERM/Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host.")
        parser.add_argument("--port", type=int, default=1883, help="MQTT broker port.")
        parser.add_argument(
            "--topic-prefix", default="frigate", help="Frigate's mqtt.topic_prefix."
        )
        parser.add_argument(
            "--device",
            required=True,
            help="The edge device (name or id) the events belong to; its cameras' external_id "
            "or slug must match Frigate's camera names.",
        )
        parser.add_argument("--username", default="", help="MQTT user name, if any.")
        parser.add_argument(
            "--password",
            default="",
            help="MQTT password (or set FRIGATE_MQTT_PASSWORD, kept out of the process list).",
        )
        parser.add_argument("--tls", action="store_true", help="Connect with TLS.")
        parser.add_argument("--ca-certs", default=None, help="CA bundle for --tls.")

    def handle(self, *args, **options):
        device = device_find(options["device"])
        listener = FrigateListener(
            device_id=device.pk,
            host=options["host"],
            port=options["port"],
            topic_prefix=options["topic_prefix"],
            username=options["username"],
            password=options["password"] or os.environ.get("FRIGATE_MQTT_PASSWORD", ""),
            tls=options["tls"],
            ca_certs=options["ca_certs"],
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: listener.stop())
        self.stdout.write(
            f"Listening to {options['host']}:{options['port']} {listener.topic_prefix}/# "
            f"for device {device.name!r}; Ctrl-C stops."
        )
        listener.run()
        self.stdout.write(f"Stopped after {listener.handled} messages.")
