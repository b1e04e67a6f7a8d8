"""Three ways to run one draft on k nodes, costed with the real CRDT engine.

    .venv/bin/python -m bench.cluster_tradeoffs

Every node that holds the draft must at least relay each update to its own
clients; that part is the same in every design and is left out. What differs:

- **Tongpin**: each node holding the draft keeps the document. An update is
  applied on its node, published once, and applied once on each of the k-1
  other nodes. Gaps are repaired by a state-vector round trip per gap.
- **Round trip per change** (a document on every node, plus a state-vector
  exchange after every change): the k-1 applies, and for each of the k-1
  receivers a state vector encoded, a diff computed against it by the origin
  (Yrs encodes the whole delete set into every diff, so it grows with the
  document), and that diff applied.
- **No document on the servers**: nothing is applied on a server, but every
  join (each page load, each reconnect after a network change) reads the
  stored snapshot and log and merges them for the client, and the server
  cannot answer a returning client with just what it lacks.

Measured on drafts built from real typing (one character per update, one
update in ten a deletion): microseconds of CPU per operation, bytes per
message, then the per-update and per-join costs those imply.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from pycrdt import Doc, Text, get_update, merge_updates

from bench.cluster_common import log, print_result

KS = (1, 2, 4, 8)


def typing(n: int, client_id: int = 5) -> tuple[Doc[Text], list[bytes]]:
    doc: Doc[Text] = Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    sub = doc.observe(lambda e: updates.append(e.update))
    for i in range(n):
        text += "稿" if i % 3 else "a"
        if i % 10 == 9:  # a deletion of the last character (pycrdt indexes by UTF-8 bytes)
            end = len(str(text).encode())
            del text[end - len(str(text)[-1].encode()) : end]
    doc.unobserve(sub)
    return doc, updates


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median microseconds of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1e6


def measure(n: int, tail: int) -> dict[str, object]:
    """Costs on a draft of ``n`` logged updates whose last ``tail`` are not compacted yet."""
    doc, updates = typing(n)
    replica: Doc[Text] = Doc()
    replica.apply_update(doc.get_update())
    # One more keystroke on the origin: the update every design moves (what
    # the transaction integrated, as the hub captures it; not a diff, which
    # would carry the whole delete set).
    captured: list[bytes] = []
    sub = doc.observe(lambda e: captured.append(e.update))
    doc.get("t", type=Text).insert(0, "新")
    doc.unobserve(sub)
    delta = captured[0]

    def apply_delta() -> None:
        r: Doc[Text] = Doc()
        r.apply_update(state)
        started = time.perf_counter()
        r.apply_update(delta)
        applied.append(time.perf_counter() - started)

    state = replica.get_update()
    applied: list[float] = []
    for _ in range(30):
        apply_delta()
    applied.sort()
    t_apply = applied[len(applied) // 2] * 1e6

    sv = replica.get_state()
    t_sv = per_call(replica.get_state, 200)
    t_diff = per_call(lambda: doc.get_update(sv), 200)
    diff = doc.get_update(sv)

    def apply_diff() -> float:
        r: Doc[Text] = Doc()
        r.apply_update(state)
        started = time.perf_counter()
        r.apply_update(diff)
        return time.perf_counter() - started

    t_apply_diff = sorted(apply_diff() for _ in range(30))[15] * 1e6

    # Joins. Tongpin answers from memory; a server without a document merges the stored state.
    snapshot = merge_updates(*updates[: n - tail]) if n > tail else b"\x00\x00"
    snapshot_doc: Doc[Text] = Doc()
    snapshot_doc.apply_update(snapshot)
    snapshot = snapshot_doc.get_update()
    log_tail = updates[n - tail :]
    t_join_fresh = per_call(lambda: doc.get_update(b"\x00"), 50)
    t_join_back = per_call(lambda: doc.get_update(sv), 50)
    t_merge = per_call(lambda: merge_updates(snapshot, *log_tail), 20)
    merged = merge_updates(snapshot, *log_tail)
    t_merge_back = per_call(lambda: get_update(merge_updates(snapshot, *log_tail), sv), 20)
    return {
        "draft_updates": n,
        "uncompacted_tail": tail,
        "delta_bytes": len(delta),
        "apply_delta_us": round(t_apply, 1),
        "state_vector_us": round(t_sv, 1),
        "diff_us": round(t_diff, 1),
        "diff_bytes": len(diff),
        "apply_diff_us": round(t_apply_diff, 1),
        "join_fresh_us": {"tongpin": round(t_join_fresh, 1), "no_document": round(t_merge, 1)},
        "join_back_us": {"tongpin": round(t_join_back, 1), "no_document": round(t_merge_back, 1)},
        "join_back_bytes": {"tongpin": len(doc.get_update(sv)), "no_document": len(get_update(merged, sv))},
        "join_fresh_bytes": {
            "tongpin": len(doc.get_update(b"\x00")),
            "no_document_unmerged": len(snapshot) + sum(len(u) for u in log_tail),
        },
    }


def per_update(m: dict[str, object]) -> list[dict[str, object]]:
    """Cluster work per update for k nodes holding the draft: CPU (µs) and broker messages."""
    apply_us = float(m["apply_delta_us"])  # type: ignore[arg-type]
    trip_us = float(m["state_vector_us"]) + float(m["diff_us"]) + float(m["apply_diff_us"])  # type: ignore[arg-type]
    rows = []
    for k in KS:
        rows.append(
            {
                "nodes": k,
                "tongpin_us": round((k - 1) * apply_us, 1),
                "tongpin_messages": 1 if k > 1 else 0,
                "round_trip_us": round((k - 1) * (apply_us + trip_us), 1),
                "round_trip_messages": 1 + 2 * (k - 1) if k > 1 else 0,
                "round_trip_bytes": (k - 1) * (int(m["diff_bytes"]) + 40),  # type: ignore[call-overload]
                "no_document_us": 0.0,
            }
        )
    return rows


def main(sizes: list[int]) -> None:
    for n in sizes:
        m = measure(n, tail=min(1000, n))
        log(str(m))
        print_result("cluster_tradeoffs", {**m, "per_update": per_update(m)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 20_000])
    main(parser.parse_args().sizes)
