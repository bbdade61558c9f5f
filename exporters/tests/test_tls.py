"""HTTPS to a receiver: the connection goes to the address that was checked, while TLS still
names (SNI) and verifies the host of the URL and the Host header carries it."""

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import transaction

from events.tests.factories import PlateEventFactory
from exporters import services, transport
from exporters.models import ExportDelivery

pytestmark = pytest.mark.django_db


def _certificate(tmp_path, hostname: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 with a certificate for `localhost` only."""
    cert_path, key_path = _certificate(tmp_path, "localhost")
    seen = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    session = transport.session()
    trusted, session.verify = session.verify, str(cert_path)  # trust the test certificate
    yield server.server_address[1], seen
    session.verify = trusted
    server.shutdown()
    server.server_close()


def test_https_keeps_the_host_name_for_sni_verification_and_host(tls_receiver, exporter_factory):
    port, seen = tls_receiver
    exporter_factory(url=f"https://localhost:{port}/hook")
    with transaction.atomic():
        [delivery] = services.deliveries_plan(events=[PlateEventFactory()])

    assert services.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    # The certificate names only "localhost": verifying it against the pinned IP would fail.
    assert seen["sni"] == ["localhost"]
    assert seen["hosts"] == [f"localhost:{port}"]


def test_a_certificate_for_another_name_is_refused(tls_receiver, exporter_factory):
    port, seen = tls_receiver
    exporter_factory(url=f"https://127.0.0.1:{port}/hook")  # the cert does not name the IP
    with transaction.atomic():
        [delivery] = services.deliveries_plan(events=[PlateEventFactory()])
    assert services.delivery_attempt(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.status == ExportDelivery.Status.PENDING
    assert "doesn't match 'localhost'" in delivery.last_error
    assert seen["hosts"] == []
