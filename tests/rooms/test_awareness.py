from __future__ import annotations

from rooms.awareness import AwarenessEntry, AwarenessStates


def test_newer_clock_wins_and_older_is_ignored() -> None:
    states = AwarenessStates()
    assert states.apply("a", [AwarenessEntry(1, 2, '{"x":1}')])
    assert not states.apply("a", [AwarenessEntry(1, 1, '{"x":0}')])
    assert states.live() == [AwarenessEntry(1, 2, '{"x":1}')]


def test_remove_owner_marks_every_client_gone_at_the_same_clock() -> None:
    states = AwarenessStates()
    states.apply("tab", [AwarenessEntry(1, 5, "{}"), AwarenessEntry(2, 0, "{}")])
    states.apply("other", [AwarenessEntry(3, 0, "{}")])
    gone = states.remove_owner("tab")
    assert gone == [AwarenessEntry(1, 5, "null"), AwarenessEntry(2, 0, "null")]
    assert [e.client_id for e in states.live()] == [3]
    # A late state with the old clock cannot bring the caret back...
    assert not states.apply("tab", [AwarenessEntry(1, 5, "{}")])
    # ...but the client's next state, one clock on, shows it again at once.
    assert states.apply("tab", [AwarenessEntry(1, 6, "{}")])


def test_client_removing_itself_is_relayed_once() -> None:
    states = AwarenessStates()
    states.apply("a", [AwarenessEntry(7, 1, "{}")])
    assert states.apply("a", [AwarenessEntry(7, 2, "null")])
    assert states.remove_owner("a") == []
