"""The development seed: a first run has work on every page, and seeding twice adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pycrdt import Doc

from rooms.doc_text import document_text
from rooms.seed import units
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey
from rooms.workflow_seed import seed_workflow
from rooms.workflow_store import Filters
from tests.workflow.bench import Bench


def merged(stored: list[bytes]) -> bytes:
    doc: Doc[Any] = Doc()
    for update in stored:
        doc.apply_update(update)
    return doc.get_update()


async def test_the_demo_seed_gives_drafts_with_text_topics_and_a_task_once(bench: Bench, tmp_path: Path) -> None:
    documents = SqliteStore(tmp_path / "documents.sqlite3")
    await documents.open()
    try:
        events = await seed_workflow(bench.store, units(), documents)
        assert {e.type for e in events} >= {"task.assigned", "draft.created", "topic.submitted", "topic.approved"}
        assert not {e.channel for e in events} & {"city"}

        editor = await bench.actor("dgdaily-editor")
        drafts = (await bench.store.drafts(editor, "typhoon-drill", Filters())).items
        assert {d.lead_unit for d in drafts} == {"dgdaily", "humen"}
        for draft in drafts:
            text = document_text(merged((await documents.load(DraftKey("typhoon-drill", draft.name))).updates))
            assert "【待补】" in text, (draft.name, text)
        outline = (await documents.load(DraftKey("dragon-boat", "outline"))).updates
        assert document_text(merged(outline)).startswith("龙舟月即将到来")

        topics = {t.title: t for t in (await bench.store.topics(editor, Filters())).items}
        assert topics["虎门港渔船回港避风"].status == "approved"
        assert topics["虎门港渔船回港避风"].session == "typhoon-drill"
        assert topics["长安镇防汛物资储备点探访"].status == "submitted"
        shatian = await bench.actor("shatian-editor")
        inbox = (await bench.store.tasks(shatian, "inbox", Filters())).items
        assert [t.title for t in inbox] == ["请报送辖区防御台风准备情况"]

        # A restart, or a second node starting at once: nothing more.
        assert await seed_workflow(bench.store, units(), documents) == []
        assert len((await bench.store.drafts(editor, "typhoon-drill", Filters())).items) == 2
        assert len((await documents.load(DraftKey("dragon-boat", "outline"))).updates) == 1
    finally:
        await documents.close()


async def test_without_demo_work_only_the_rotation_and_the_task_are_seeded(bench: Bench) -> None:
    events = await seed_workflow(bench.store, units())
    assert {e.type for e in events} == {"task.created", "task.assigned"}
    editor = await bench.actor("dgdaily-editor")
    assert (await bench.store.drafts(editor, "typhoon-drill", Filters())).items == []
    assert (await bench.store.topics(editor, Filters())).items == []
    assert (await bench.store.duty(bench.clock())).current is not None
