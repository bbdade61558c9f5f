"""`manage.py runserver`: daphne's (ASGI, websockets included), whose requests refuse a body
over EVENT_UPLOAD_MAX_BYTES before reading it, as `manage.py serve` does (anpr.daphne_server)."""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand

from anpr.daphne_server import BodyLimitedServer


class Command(DaphneRunserverCommand):
    server_cls = BodyLimitedServer
