"""Helpers of the live stream tests (/ws/events/ on the real ASGI application): opening a
stream as a user, reading its frames, ingesting reads from inside the test's event loop."""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from anpr.asgi import application
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")  # the site's own origin is its Host with its scheme


def run(scenario):
    """Run an async test body to completion in one event loop."""
    return async_to_sync(scenario)()


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def open_stream(headers, query: str = "") -> WebsocketCommunicator:
    path = "/ws/events/" + (f"?{query}" if query else "")
    if not any(name == b"host" for name, _ in headers):
        headers = [HOST, *headers]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def closed_with(communicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def alive(communicator) -> bool:
    """The connection answers a ping (it is open and past any earlier bad message)."""
    await communicator.send_json_to({"type": "ping"})
    return await communicator.receive_json_from(timeout=5) == {"type": "pong"}


def read(camera, plate: str, **extra) -> ReadIn:
    return ReadIn(
        plate=plate,
        captured_at=timezone.now().isoformat(),
        camera=camera.slug,
        event_id=uuid.uuid4().hex,
        **extra,
    )


async def ingest(device, *reads: ReadIn):
    return await database_sync_to_async(plate_events_ingest)(device=device, reads=list(reads))


async def next_frame(communicator) -> dict:
    return await communicator.receive_json_from(timeout=5)


async def receive_briefly(layer, channel, timeout: float = 0.5):
    return await asyncio.wait_for(layer.receive(channel), timeout=timeout)
