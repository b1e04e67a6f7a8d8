"""Seed data: the city's units (facts, every deployment) and demo people (development only).

- ``units()`` reads ``schema/seed/units.csv``: three city outlets, three park
  centres, four sub-districts and 28 towns.
- ``demo_users()`` gives every unit an editor, a reporter and a viewer; parks
  and sub-districts also a duty editor; the city outlets the rest of the
  roles (chief editor, reviewers of all three levels, the commander of the
  city command centre, an opinion monitor, and the platform admin). Ids are
  ``{unit}-{role}``, e.g. ``humen-editor``; names are Chinese and stable.
- ``demo_rooms()`` gives two planning sessions with owner and member units.

Everything is deterministic and seeding only inserts what is missing, so two
nodes seeding one database at once, or a restart, change nothing.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from rooms.directory import UNIT_KINDS, Directory, Role, Room, Unit, User, valid_unit_code

__all__ = ["demo_rooms", "demo_users", "seed", "units"]

SURNAMES = "陈李黄张梁林刘何叶钟袁卢莫谢罗邓麦杨周吴蔡郑朱徐"
# fmt: off
GIVEN = (
    "志明", "丽华", "建国", "晓燕", "伟强", "少芳", "嘉欣", "俊杰", "美玲", "国华", "慧敏", "永康",
    "子轩", "雅婷", "振华", "碧霞", "文军", "秀英", "家豪", "海燕", "锦荣", "晓彤", "泽鹏", "婉仪",
)
# fmt: on

# Extra people of the city outlets: (unit, id suffix, role).
CITY_STAFF = (
    ("dgdaily", "chief", Role.CHIEF_EDITOR),
    ("dgdaily", "duty", Role.DUTY_EDITOR),
    ("dgdaily", "review1", Role.REVIEWER_1),
    ("dgdaily", "review2", Role.REVIEWER_2),
    ("dgdaily", "review3", Role.REVIEWER_3),
    ("dgdaily", "commander", Role.COMMANDER),
    ("dgdaily", "admin", Role.ADMIN),
    ("dgrtv", "chief", Role.CHIEF_EDITOR),
    ("dgrtv", "duty", Role.DUTY_EDITOR),
    ("dgrtv", "review2", Role.REVIEWER_2),
    ("dgrelease", "monitor", Role.MONITOR),
    ("dgrelease", "review1", Role.REVIEWER_1),
)


def units() -> list[Unit]:
    """The units in ``schema/seed/units.csv``, in file order."""
    text = resources.files("schema").joinpath("seed/units.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        unit = Unit(row["code"], row["name_zh"], row["name_en"], row["kind"], row.get("note") or "")
        assert valid_unit_code(unit.code) and unit.kind in UNIT_KINDS, f"bad unit row {row}"
        out.append(unit)
    return out


def _name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7 + i // len(SURNAMES)) % len(GIVEN)]


def demo_users(all_units: list[Unit] | None = None) -> list[User]:
    people: list[tuple[str, str, Role]] = []
    for unit in all_units if all_units is not None else units():
        people += [(unit.code, "editor", Role.EDITOR), (unit.code, "reporter", Role.REPORTER)]
        if unit.kind in ("park", "subdistrict"):
            people.append((unit.code, "duty", Role.DUTY_EDITOR))
        people.append((unit.code, "viewer", Role.VIEWER))
    people += CITY_STAFF
    return [
        User(f"{code}-{suffix}", _name(i), code, frozenset({role})) for i, (code, suffix, role) in enumerate(people)
    ]


def demo_rooms() -> list[Room]:
    return [
        Room(
            "typhoon-drill",
            "防御台风联合报道策划",
            "dgdaily",
            frozenset({"dgrtv", "dgrelease", "humen", "changan", "shatian", "binhaiwan"}),
        ),
        Room(
            "dragon-boat",
            "龙舟月水乡联合报道",
            "wanjiang",
            frozenset({"dgdaily", "dgrtv", "machong", "zhongtang", "daojiao"}),
        ),
    ]


async def seed(directory: Directory, *, demo: bool) -> tuple[int, int]:
    """Insert missing units, and with ``demo`` the demo users and rooms.

    Returns (units added, users added). Demo rooms are put only when demo
    users were added (a first run), so an operator's edits to them stay.
    """
    all_units = units()
    added_units = await directory.put_units(all_units)
    added_users = 0
    if demo:
        added_users = await directory.put_users(demo_users(all_units))
        if added_users:
            for room in demo_rooms():
                if await directory.room(room.id) is None:
                    await directory.put_room(room)
    return added_units, added_users
