"""The Directory contract, run over every backend: SQLite (embedded) and PostgreSQL (real server)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from rooms.directory import AuditEvent, Directory, InvalidEntry, Role, Room, Unit, User
from rooms.postgres_directory import PostgresDirectory
from rooms.postgres_store import PostgresStore
from rooms.seed import demo_rooms, demo_users, seed, units
from rooms.sqlite_directory import SqliteDirectory
from tests.cluster.services import postgres_schema

FAR_FUTURE = 1e11


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def directory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Directory]:
    if request.param == "sqlite":
        sqlite = SqliteDirectory(tmp_path_factory.mktemp("dir") / "tongpin.sqlite3")
        await sqlite.open()
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    async with postgres_schema() as url:
        store = PostgresStore(url)  # its migrations create the directory's tables too
        await store.open()
        postgres = PostgresDirectory(url)
        try:
            await postgres.open()
            yield postgres
        finally:
            await postgres.close()
            await store.close()


def event(action: str, **kw: object) -> AuditEvent:
    return AuditEvent(action, time.time(), **kw)  # type: ignore[arg-type]


async def test_seeding_is_complete_and_idempotent(directory: Directory) -> None:
    assert await seed(directory, demo=True) == (38, len(demo_users()))
    assert await seed(directory, demo=True) == (0, 0)
    found = await directory.units()
    assert len(found) == 38 and {u.code for u in found} == {u.code for u in units()}
    assert [u.kind for u in found[:3]] == ["city_outlet"] * 3 and found[-1].kind == "town"
    assert {r.id for r in await directory.rooms()} == {r.id for r in demo_rooms()}
    every = await directory.users()
    assert [u.id for u in every] == sorted(u.id for u in every)
    assert {r for u in every for r in u.roles} == {r.value for r in Role}


async def test_seeding_never_undoes_an_operators_change(directory: Directory) -> None:
    await seed(directory, demo=True)
    await directory.set_roles("humen-viewer", frozenset({"editor"}), event("role_change"))
    await seed(directory, demo=True)
    user = await directory.user("humen-viewer")
    assert user is not None and user.roles == frozenset({"editor"})


async def test_users_by_unit_and_by_id(directory: Directory) -> None:
    await seed(directory, demo=False)
    assert await directory.put_users([User("a-1", "陈志明", "humen", frozenset({"editor", "reviewer_1"}))]) == 1
    assert await directory.put_users([User("a-1", "changed", "gaobu", frozenset())]) == 0  # never overwrites
    assert await directory.user("a-1") == User("a-1", "陈志明", "humen", frozenset({"editor", "reviewer_1"}))
    assert await directory.user("nobody") is None
    assert [u.id for u in await directory.users("humen")] == ["a-1"]
    assert await directory.users("gaobu") == []


async def test_bad_entries_change_nothing(directory: Directory) -> None:
    await seed(directory, demo=False)
    with pytest.raises(InvalidEntry):
        await directory.put_users([User("x-1", "x", "atlantis", frozenset())])  # unknown unit
    with pytest.raises(InvalidEntry):
        await directory.put_users([User("Bad Id", "x", "humen", frozenset())])
    with pytest.raises(InvalidEntry):
        await directory.put_room(Room("r1", "t", "humen", frozenset({"atlantis"})))
    with pytest.raises(InvalidEntry):
        await directory.put_room(Room("../r", "t", "humen"))
    assert await directory.users() == [] and await directory.room("r1") is None


async def test_role_and_disable_changes_are_stored_with_their_audit_row(directory: Directory) -> None:
    await seed(directory, demo=True)
    after = (await directory.audit_trail(limit=1000))[-1].id if await directory.audit_trail() else 0
    audit = AuditEvent("role_change", 1.5e9, "dgdaily-admin", "dgdaily", "10.0.0.1", "humen-editor",
                       {"before": ["editor"], "after": ["viewer"], "说明": "值班调整"}, "node-a")  # fmt: skip
    changed = await directory.set_roles("humen-editor", frozenset({"viewer"}), audit)
    assert changed is not None and changed.roles == frozenset({"viewer"})
    disabled = await directory.set_disabled("humen-editor", True, event("disable", actor="dgdaily-admin"))
    assert disabled is not None and disabled.disabled and disabled.roles == frozenset({"viewer"})
    assert await directory.set_roles("ghost", frozenset(), event("role_change", target="ghost")) is None
    trail = await directory.audit_trail(after_id=after)
    assert [r.event.action for r in trail] == ["role_change", "disable"]  # none for the ghost
    assert trail[0].event == audit
    assert trail[0].id < trail[1].id


async def test_rooms_and_membership(directory: Directory) -> None:
    await seed(directory, demo=False)
    await directory.put_room(Room("r1", "联合报道", "dgdaily", frozenset({"humen", "changan"})))
    await directory.put_room(Room("r2", "龙舟", "humen"))
    assert [r.id for r in await directory.rooms("humen")] == ["r1", "r2"]
    assert [r.id for r in await directory.rooms("changan")] == ["r1"]
    assert await directory.rooms("gaobu") == []
    await directory.put_room(Room("r1", "联合报道（改）", "dgdaily", frozenset({"gaobu"})))
    room = await directory.room("r1")
    assert room == Room("r1", "联合报道（改）", "dgdaily", frozenset({"gaobu"}))
    assert room.has_unit("dgdaily") and room.has_unit("gaobu") and not room.has_unit("humen")
    assert await directory.room("r3") is None


async def test_changes_since(directory: Directory) -> None:
    await seed(directory, demo=True)
    start = (await directory.changes(FAR_FUTURE)).now
    assert (await directory.changes(FAR_FUTURE)).users == []
    await directory.set_disabled("gaobu-editor", True, event("disable"))
    await directory.put_room(Room("r9", "t", "gaobu"))
    seen = await directory.changes(start - 1.0)  # pollers look back a little: stamps can tie
    changed = {u.id: u for u in seen.users}
    assert changed["gaobu-editor"].disabled
    assert "r9" in {r.id for r in seen.rooms}
    assert seen.now >= start
    later = await directory.changes(seen.now + 0.001)
    assert later.users == [] and later.rooms == []


async def test_audit_batches_keep_order_and_filter(directory: Directory) -> None:
    batch = [event("join", actor=f"u{i % 3}", target=f"r/d{i}", detail={"i": i}) for i in range(250)]
    await directory.append_audit(batch)
    await directory.append_audit([])
    trail = await directory.audit_trail(limit=1000)
    assert [r.event.detail["i"] for r in trail] == list(range(250))
    assert [r.id for r in trail] == sorted(r.id for r in trail)
    mine = await directory.audit_trail(actor="u1", limit=1000)
    assert len(mine) == 83 and all(r.event.actor == "u1" for r in mine)
    page = await directory.audit_trail(after_id=trail[99].id, limit=10)
    assert [r.event.detail["i"] for r in page] == list(range(100, 110))
    assert await directory.audit_trail(action="leave") == []


async def test_units_put_is_insert_only(directory: Directory) -> None:
    assert await directory.put_units([Unit("testunit", "测试", "Test", "town")]) == 1
    assert await directory.put_units([Unit("testunit", "改", "Changed", "park")]) == 0
    assert await directory.units() == [Unit("testunit", "测试", "Test", "town", "")]
