"""Websocket URLs of the events app (mounted under /ws/ by anpr.asgi)."""

websocket_urlpatterns = []
