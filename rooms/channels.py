"""Live channel names, and who may subscribe to which.

A channel name is a kind and, for most kinds, an argument:

| name | carries | who may subscribe |
|---|---|---|
| ``room:{room}`` | a planning session's events and presence | users of its owner or member units |
| ``unit:{unit}`` | a unit's dispatch and review events | the unit's users; commanders |
| ``user:{user}`` | one person's own notifications | that user only |
| ``alerts`` | city-wide alerts | commanders, monitors, chief editors, duty editors |
| ``alerts:{unit}`` | one unit's alerts | the unit's users; commanders, monitors |
| ``duty`` | the duty desk's events | duty editors, chief editors, commanders |
| ``city`` | city-wide news for everyone: duty handovers | every signed-in user |

Arguments follow the directory's name rules (``rooms.names`` for rooms,
``rooms.directory`` for units and users), so a name can never smuggle in
another channel or a path. ``authorize`` applies the table; it is the only
place these rules live.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple, Protocol

from rooms.directory import Role, Room, Unit, valid_unit_code, valid_user_id
from rooms.names import valid_name

__all__ = [
    "MAX_CHANNEL_CHARS",
    "BadChannel",
    "Channel",
    "Kind",
    "Lookup",
    "Refused",
    "Viewer",
    "authorize",
    "parse_channel",
]

MAX_CHANNEL_CHARS = 80


class Kind(enum.StrEnum):
    ROOM = "room"
    UNIT = "unit"
    USER = "user"
    ALERTS = "alerts"  # bare: city-wide; with a unit: that unit's
    DUTY = "duty"
    CITY = "city"  # bare: every signed-in user


class BadChannel(ValueError):
    """Not a channel name (the message says why)."""


class Refused(Exception):
    """The identity may not subscribe to the channel (the message says why)."""


class Channel(NamedTuple):
    kind: Kind
    arg: str  # room id, unit code or user id; empty for ``alerts``, ``duty`` and ``city``

    @property
    def name(self) -> str:
        return f"{self.kind.value}:{self.arg}" if self.arg else self.kind.value

    def __str__(self) -> str:
        return self.name


_ARG_RULES: dict[Kind, tuple[Callable[[str], bool], str]] = {
    Kind.ROOM: (valid_name, "a room id: 1-64 of A-Z a-z 0-9 _ -"),
    Kind.UNIT: (valid_unit_code, "a unit code: lowercase letters, digits, _ -"),
    Kind.USER: (valid_user_id, "a user id: lowercase letters, digits, _ . -"),
    Kind.ALERTS: (valid_unit_code, "a unit code: lowercase letters, digits, _ -"),
}


def parse_channel(name: object) -> Channel:
    """The channel ``name`` denotes; ``BadChannel`` if it denotes none."""
    if not isinstance(name, str):
        raise BadChannel("a channel name is a string")
    if not name or len(name) > MAX_CHANNEL_CHARS:
        raise BadChannel(f"a channel name is 1 to {MAX_CHANNEL_CHARS} characters")
    head, colon, arg = name.partition(":")
    try:
        kind = Kind(head)
    except ValueError:
        raise BadChannel("channel kinds: room:, unit:, user:, alerts, alerts:, duty, city") from None
    if not colon:
        if kind in (Kind.ALERTS, Kind.DUTY, Kind.CITY):
            return Channel(kind, "")
        raise BadChannel(f"{kind.value} needs an argument: {kind.value}:ID")
    if kind in (Kind.DUTY, Kind.CITY):
        raise BadChannel(f"{kind.value} takes no argument")
    valid, rule = _ARG_RULES[kind]
    if not valid(arg):
        raise BadChannel(f"{kind.value}: takes {rule}")
    return Channel(kind, arg)


class Viewer(Protocol):
    """What the rules need of an identity (``hub.auth.Identity`` is one)."""

    @property
    def sub(self) -> str: ...

    @property
    def unit(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def anonymous(self) -> bool: ...


class Lookup(Protocol):
    """What the rules read from the directory (``rooms.directory.Directory`` is one)."""

    async def room(self, room_id: str) -> Room | None: ...

    async def units(self) -> list[Unit]: ...


CITY_ALERT_ROLES = frozenset({Role.COMMANDER, Role.MONITOR, Role.CHIEF_EDITOR, Role.DUTY_EDITOR})
UNIT_ALERT_ROLES = frozenset({Role.COMMANDER, Role.MONITOR})  # any unit's alerts
ANY_UNIT_ROLES = frozenset({Role.COMMANDER})  # any unit's channel
DUTY_ROLES = frozenset({Role.DUTY_EDITOR, Role.CHIEF_EDITOR, Role.COMMANDER})


async def authorize(viewer: Viewer, channel: Channel, directory: Lookup) -> None:
    """Return if ``viewer`` may subscribe to ``channel``; raise ``Refused`` if not.

    Rooms and units are looked up in ``directory`` now, so a room's member
    units apply as they are at the time of subscribing. A room that does not
    exist is refused like one the viewer may not open (its existence is not
    revealed). Anonymous viewers (hubs run with authentication off) may
    subscribe to anything.
    """
    if viewer.anonymous or channel.kind is Kind.CITY:
        return
    roles = viewer.roles
    kind, arg = channel
    if kind is Kind.ROOM:
        room = await directory.room(arg)
        if room is None or not room.has_unit(viewer.unit):
            raise Refused(f"{channel}: only users of the planning session's units may subscribe")
    elif kind is Kind.USER:
        if arg != viewer.sub:
            raise Refused(f"{channel}: only that user may subscribe")
    elif kind is Kind.DUTY:
        if roles.isdisjoint(DUTY_ROLES):
            raise Refused(f"{channel}: duty editors, chief editors and commanders only")
    elif kind is Kind.ALERTS and not arg:
        if roles.isdisjoint(CITY_ALERT_ROLES):
            raise Refused(f"{channel}: commanders, monitors, chief editors and duty editors only")
    else:  # unit:X or alerts:X
        others = ANY_UNIT_ROLES if kind is Kind.UNIT else UNIT_ALERT_ROLES
        if arg != viewer.unit and roles.isdisjoint(others):
            raise Refused(f"{channel}: only the unit's users may subscribe")
        if arg != viewer.unit and arg not in {u.code for u in await directory.units()}:
            raise Refused(f"{channel}: no such unit")
