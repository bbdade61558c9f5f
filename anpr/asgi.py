"""ASGI entry point (daphne): HTTP goes to Django, /ws/ to the Channels routing, after the
scope's root_path is set to ours (anpr.asgi_guards) and with request bodies held to the limit
(anpr.body_limit; run daphne as anpr.daphne_server so it does not read them first either).

Under ASGI every sync view runs in a new thread, so persistent connections would open one
PostgreSQL connection per thread; psycopg's pool is used instead.

The objects of the loaded project (about 120,000) are frozen out of the garbage collector:
otherwise every full collection walks them all, a pause of 50-150 ms on a busy 2-core host
that every websocket client sees as a late frame.
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
os.environ.setdefault("DB_CONNECTIONS", "pool")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from cameras.websocket_auth import WebsocketAuthMiddleware  # noqa: E402
from core.outage import websocket_outage_closed  # noqa: E402
from events.routing import websocket_urlpatterns  # noqa: E402

from .asgi_guards import root_path_configured  # noqa: E402
from .body_limit import asgi_body_limited  # noqa: E402

application = root_path_configured(
    ProtocolTypeRouter(
        {
            "http": asgi_body_limited(django_asgi_app),
            "websocket": websocket_outage_closed(
                WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

gc.freeze()
