"""Frame kinds other apps send on the live stream, without events importing them.

The live stream has one websocket and one fan-out per process (events.consumers); reads are
its own frames. Another app (watchlists: hits) registers a `LiveFrameKind` in its
`AppConfig.ready()`, with a function saying what each connected user may receive of it, and
sends frames built with `events.broadcast.live_frame` through `broadcast_frames`. The
consumer asks `live_access_of` at connect and at every recheck of its user (so a permission
granted or withdrawn mid-connection takes effect within `recheck_every`), and each frame may
name its audience (the owners of a covert list): then only they and users with
`LiveAccess.ALL` receive it. The stream's camera and zone filter applies to every kind.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass


class LiveAccess(enum.IntEnum):
    """What a user may receive of one kind of frame."""

    #: None of its frames.
    NONE = 0
    #: Frames without an audience, and those naming the user.
    ADDRESSED = 1
    #: Every frame, whatever its audience.
    ALL = 2


@dataclass(frozen=True)
class LiveFrameKind:
    """One kind of frame on the live stream (see the module docstring)."""

    #: The frame's "type" for clients, e.g. "hit".
    name: str
    #: access(user) -> LiveAccess; runs on a thread and may query the database.
    access: Callable[..., LiveAccess]
    #: page_config(user) -> dict or None: what the live map page needs to show this kind to
    #: this user (None: nothing shown), under `kinds.<name>` of its config.
    page_config: Callable[..., dict | None] | None = None
    #: Alerts (hits): sent at once, not held back to be batched with the frames that follow
    #: within LIVE_SEND_INTERVAL (events.broadcast).
    prompt: bool = False

    @property
    def layer_type(self) -> str:
        """The channel layer message type its frames travel in."""
        return live_layer_type(self.name)


_kinds: dict[str, LiveFrameKind] = {}


def live_layer_type(name: str) -> str:
    return f"live.{name}"


def live_kind_register(kind: LiveFrameKind) -> None:
    """Add a kind (from an AppConfig.ready()); registering a name again replaces it."""
    if kind.name.startswith("event."):
        raise ValueError(f"Live frame kind {kind.name!r}: event.* frames are the reads'.")
    _kinds[kind.name] = kind


def live_kinds() -> dict[str, LiveFrameKind]:
    return _kinds


def live_layer_types() -> frozenset[str]:
    return frozenset(kind.layer_type for kind in _kinds.values())


def live_access_of(user) -> dict[str, LiveAccess]:
    """{kind name: access} of the kinds this user may receive something of."""
    granted = {name: kind.access(user) for name, kind in _kinds.items()}
    return {name: access for name, access in granted.items() if access > LiveAccess.NONE}


def live_page_configs(user) -> dict[str, dict]:
    """{kind name: page config} of the kinds the live map shows this user."""
    configs = {}
    for name, kind in _kinds.items():
        config = kind.page_config(user) if kind.page_config else None
        if config is not None:
            configs[name] = config
    return configs
