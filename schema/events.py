"""The catalogue of the events Tongpin itself publishes: ``schema/events.schema.json``.

Every event type of the system's namespaces (``x-namespaces``: ``session``,
``draft``, ``topic``, ``task``, ``receipt``, ``duty``, ``review``,
``alert``) has one definition there: the JSON Schema of its ``data``, the
channels it goes to (``x-channels``, documentation) and a description. The
shared objects (a session, a task...) are the API's own schemas of
``schema/openapi.json``, referenced, so an event carries a thing exactly as
the API answers it.

The hub's publishing paths call ``require`` (``rooms.sql.Queued.publish``,
``rooms.review.publications``), so a system event missing from the catalogue
fails where it is published; ``validate`` checks an event's data (the tests
run it on every system event a ``/live`` client receives). Types outside the
catalogue, such as what trusted services publish through ``POST
/live/publish``, are not checked. ``validate`` needs the ``jsonschema``
package (a development dependency); loading the catalogue does not.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = [
    "CATALOGUE",
    "EVENT_TYPES",
    "NAMESPACES",
    "InvalidEvent",
    "UnknownEvent",
    "channels",
    "is_system",
    "require",
    "validate",
]

_FILES = resources.files("schema")
CATALOGUE: dict[str, Any] = json.loads(_FILES.joinpath("events.schema.json").read_text(encoding="utf-8"))
EVENT_TYPES: frozenset[str] = frozenset(name for name, d in CATALOGUE["$defs"].items() if "x-channels" in d)
NAMESPACES: frozenset[str] = frozenset(CATALOGUE["x-namespaces"])


class UnknownEvent(ValueError):
    """A system event type that the catalogue does not define."""


class InvalidEvent(ValueError):
    """An event whose data (or channel) is not what the catalogue says; the message says where."""


def is_system(type: str) -> bool:
    """Whether ``type`` is in one of the system's namespaces (``session.created``: yes; ``scenario.mark``: no)."""
    return type.partition(".")[0] in NAMESPACES


def require(type: str) -> str:
    """``type`` itself if the catalogue defines it, else ``UnknownEvent``."""
    if type not in EVENT_TYPES:
        raise UnknownEvent(f"{type!r} is not a system event type: define it in schema/events.schema.json")
    return type


def channels(type: str) -> tuple[str, ...]:
    """Where events of ``type`` go, as templates (``unit:{lead unit}``, ``duty``)."""
    return tuple(CATALOGUE["$defs"][require(type)]["x-channels"])


def validate(type: str, data: Any, *, channel: str | None = None) -> None:
    """Raise ``InvalidEvent`` unless ``data`` (and the ``channel`` it arrived on, if given) fit ``type``."""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

    error = best_match(_validator(require(type)).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(the data)"
        raise InvalidEvent(f"{type} at {where}: {error.message}")
    if channel is not None and _kind(channel) not in {_kind(c) for c in channels(type)}:
        raise InvalidEvent(f"{type} does not go to {channel} (its channels: {', '.join(channels(type))})")


def _kind(channel: str) -> str:
    """``unit:humen`` and ``unit:{lead unit}`` → ``unit:``; ``duty (once escalated)`` → ``duty``."""
    name = channel.split(" ", 1)[0]
    return name.split(":", 1)[0] + (":" if ":" in name else "")


@functools.cache
def _validator(type: str) -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator({"$ref": f"events.schema.json#/$defs/{type}"}, registry=_registry())


@functools.cache
def _registry() -> Any:
    """The catalogue and the API's schemas, named so that a relative reference ("openapi.json#/...")
    resolves as it does between the two files on disk."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    openapi = json.loads(_FILES.joinpath("openapi.json").read_text(encoding="utf-8"))
    documents = (("events.schema.json", CATALOGUE), ("openapi.json", openapi))
    return Registry().with_resources((name, DRAFT202012.create_resource(doc)) for name, doc in documents)
