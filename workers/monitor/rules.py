"""Matching items against rules, and routing a match to a unit.

A rule (``rooms.monitor.Rule``) matches an item when the item's title or
summary contains at least one of its ``any`` keywords (or it has none), each
of its ``all`` keywords and none of its ``none`` keywords. Containment is
substring search in ``workers.monitor.text.normalise`` form, in the title
and the summary separately (so a keyword never matches across the two).

Routing: the place keywords of the matching rules (their ``regions``, and,
when ``use_unit_names`` is on, every place unit's name, full and without its
suffix: ``虎门镇`` and ``虎门``, ``莞城街道`` and ``莞城``) are looked for in
the same text; the one that occurs first wins (the title before the summary,
the longer keyword on a tie), and its unit gets the alert. No place found:
the alert is unrouted, and the job gives it to the unit on duty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rooms.monitor import SEVERITIES, Rule
from workers.monitor.text import normalise

__all__ = ["Match", "Matcher", "place_names"]

# Suffixes of unit names that a headline usually leaves out.
NAME_SUFFIXES = ("功能区", "新区", "街道", "镇")


def place_names(units: Mapping[str, str]) -> dict[str, str]:
    """Place keyword -> unit code, from unit code -> Chinese name."""
    out: dict[str, str] = {}
    for code, name in units.items():
        out[name] = code
        for suffix in NAME_SUFFIXES:
            short = name.removesuffix(suffix)
            if short != name and len(short) >= 2:
                out[short] = code
                break
    return out


@dataclass(frozen=True, slots=True)
class Match:
    rules: tuple[str, ...]  # ids of the rules that matched
    matched: tuple[str, ...]  # the keywords found, as the rules spell them
    severity: str  # the highest of the matching rules'
    unit: str | None  # the routed unit (None: unrouted)
    place: str | None  # the place keyword that routed it


class _Compiled:
    __slots__ = ("all", "any", "none", "places", "rule")

    def __init__(self, rule: Rule, names: Mapping[str, str]) -> None:
        self.rule = rule
        self.any = _terms(rule.any_terms)
        self.all = _terms(rule.all_terms)
        self.none = _terms(rule.none_terms)
        places = dict(names) if rule.use_unit_names else {}
        places.update(rule.regions)
        self.places = _terms(places.keys(), places)


def _terms(words: Iterable[str], units: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(normalised, as written, unit) for each word that normalises to something."""
    out = []
    for word in words:
        key = normalise(word)
        if key:
            out.append((key, word, units[word] if units else ""))
    return out


class Matcher:
    """The enabled rules, compiled once, against any number of items."""

    def __init__(self, rules: Sequence[Rule], unit_names: Mapping[str, str]) -> None:
        names = place_names(unit_names)
        self.rules = [_Compiled(r, names) for r in rules if r.enabled]

    def match(self, title: str, summary: str) -> Match | None:
        texts = (normalise(title), normalise(summary))

        def found(key: str) -> bool:
            return key in texts[0] or key in texts[1]

        hits: list[_Compiled] = []
        matched: dict[str, None] = {}
        for c in self.rules:
            if any(found(k) for k, _, _ in c.none):
                continue
            if not all(found(k) for k, _, _ in c.all):
                continue
            anys = [w for k, w, _ in c.any if found(k)]
            if c.any and not anys:
                continue
            hits.append(c)
            matched.update(dict.fromkeys(anys))
            matched.update(dict.fromkeys(w for _, w, _ in c.all))
        if not hits:
            return None
        severity = max((c.rule.severity for c in hits), key=SEVERITIES.index)
        unit, place = _route(texts, [p for c in hits for p in c.places])
        return Match(tuple(c.rule.id for c in hits), tuple(matched), severity, unit, place)


def _route(texts: tuple[str, str], places: list[tuple[str, str, str]]) -> tuple[str | None, str | None]:
    best: tuple[int, int] | None = None
    chosen: tuple[str | None, str | None] = (None, None)
    for key, word, unit in places:
        for offset, text in ((0, texts[0]), (len(texts[0]), texts[1])):
            at = text.find(key)
            if at >= 0:
                rank = (offset + at, -len(key))
                if best is None or rank < best:
                    best, chosen = rank, (unit, word)
                break
    return chosen
