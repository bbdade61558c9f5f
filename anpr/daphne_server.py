"""daphne, with request bodies held to EVENT_UPLOAD_MAX_BYTES while they arrive.

daphne (through Twisted) reads a request's whole body, into memory or a temporary file, before
the application sees the request, so the application's own check (anpr.body_limit) would come
after a 200 MB upload had been read. Here the 413 is sent, and the connection closed, as soon
as the headers declare a longer body or a chunked one passes the limit. Run it as daphne:
`python -m anpr.daphne_server [daphne's options] anpr.asgi:application`.
"""

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings

from anpr.body_limit import body_too_large_content


class BodyLimitedRequest(WebRequest):
    """daphne's request, refusing a body over the limit before reading it (Twisted's public
    hooks: gotLength once the headers are in, handleContentChunk for each piece of body)."""

    refused = False
    received = 0

    def gotLength(self, length):
        if length is not None and length > settings.EVENT_UPLOAD_MAX_BYTES:
            super().gotLength(0)  # a body kept in memory (none is kept), not a temporary file
            self.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the answer
            self.refuse()
        else:
            super().gotLength(length)

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.received += len(data)
        if self.received > settings.EVENT_UPLOAD_MAX_BYTES:
            self.refuse()
            return
        super().handleContentChunk(data)

    def process(self):
        if not self.refused:  # a refused request never reaches the application
            return super().process()

    def refuse(self):
        """413 in the API's error shape, then close: the rest of the body is never read.
        Written straight to the connection, as the request line is not parsed into the
        request until its body is complete."""
        self.refused = True
        content = body_too_large_content()
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Request Entity Too Large\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(content) + content
        )
        transport.loseConnection()


class BodyLimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitedRequest
        return protocol


class BodyLimitedServer(Server):
    """daphne's Server whose HTTP connections make BodyLimitedRequests."""

    @property
    def http_factory(self):
        return self.__dict__["http_factory"]

    @http_factory.setter
    def http_factory(self, factory):
        # Server.run() makes daphne's HTTPFactory before listening: ours takes its place.
        self.__dict__["http_factory"] = BodyLimitedHTTPFactory(self)


class BodyLimitedCommandLineInterface(CommandLineInterface):
    server_class = BodyLimitedServer


if __name__ == "__main__":
    BodyLimitedCommandLineInterface.entrypoint()
