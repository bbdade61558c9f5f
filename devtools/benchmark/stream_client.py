"""The websocket client of `manage.py benchmark_live`."""

import asyncio
import base64
import hashlib
import os
import re
import time

_PLATE = re.compile(rb'"plate": ?"([A-Z0-9]+)"')


class StreamClient(asyncio.Protocol):
    """A lean websocket client of /ws/events/ (RFC 6455 over one asyncio connection).

    The clients share the cores with the servers they measure, so each does only what a
    client must: the opening handshake (its Sec-WebSocket-Accept checked), frames parsed as
    far as their length, the plate read from a text frame with a regex (not a JSON parse),
    pings answered, the closing handshake. Frames that arrive in one read share one time.
    """

    _GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, arrivals: list[tuple[str, float]], kind: str | None = None):
        self.arrivals = arrivals
        #: Only frames of this type count (their "type" comes first), e.g. "hit"; None: all.
        self.wanted = None if kind is None else f'{{"type": "{kind}"'.encode()
        self.buffer = bytearray()
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.key = base64.b64encode(os.urandom(16))
        self.fragments: list[bytes] = []

    @classmethod
    async def connect(
        cls, *, port: int, path: str, headers: dict, arrivals, kind: str | None = None
    ) -> "StreamClient":
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(arrivals, kind), "127.0.0.1", port)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {client.key.decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await asyncio.wait_for(client.opened, timeout=10)
        return client

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the opening handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes):
        arrived = time.perf_counter()
        self.buffer += data
        if not self.opened.done():
            head, found, _ = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            del self.buffer[: len(head) + 4]
            accept = base64.b64encode(hashlib.sha1(self.key + self._GUID).digest())
            if not head.startswith(b"HTTP/1.1 101") or accept not in head:
                self.opened.set_exception(ConnectionError(head.decode("latin-1")))
                self.transport.close()
                return
            self.opened.set_result(None)
        self._frames_read(arrived)

    def _frames_read(self, arrived: float) -> None:
        buffer, offset = self.buffer, 0
        while len(buffer) - offset >= 2:
            first, length = buffer[offset], buffer[offset + 1] & 0x7F  # servers do not mask
            start = offset + 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 4]), offset + 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 10]), offset + 10
            if len(buffer) - start < length:
                break
            self._frame(
                first & 0x0F, bool(first & 0x80), bytes(buffer[start : start + length]), arrived
            )
            offset = start + length
        del buffer[:offset]

    def _frame(self, opcode: int, final: bool, payload: bytes, arrived: float) -> None:
        if opcode in (0x0, 0x1, 0x2):  # a message, perhaps in fragments
            self.fragments.append(payload)
            if final:
                message, self.fragments = b"".join(self.fragments), []
                if self.wanted is not None and not message.startswith(self.wanted):
                    return
                found = _PLATE.search(message)
                if found:
                    self.arrivals.append((found.group(1).decode(), arrived))
        elif opcode == 0x9:  # ping
            self._send(0xA, payload)
        elif opcode == 0x8:  # the server closes: answer, then the server ends the TCP connection
            self._send(0x8, payload[:2])

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame: final, masked (clients must mask), payload under 126 bytes."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    async def close(self) -> None:
        """The closing handshake (1000, normal), then wait for the server to end it."""
        if not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout=5)
        except TimeoutError:
            self.transport.close()
