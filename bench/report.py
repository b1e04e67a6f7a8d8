"""Write the figures of the newest benchmark session into docs/BENCHMARKS.md.

    .venv/bin/python -m bench.report [--session ID]

Reads ``bench/results/*.json`` of one session (default: the newest
``fanout-full`` file's session; ``bench/run_all.sh`` sets one id for a whole
run) and replaces the text between the ``generated`` markers in
``docs/BENCHMARKS.md``; the hand-written text around them is kept. Where a
benchmark was repeated in the session, each cell is the median over the
repeats and ratios are medians of the per-repeat ratios (each repeat ran
every server back to back, so a ratio compares like with like).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from bench.servers import RESULTS, ROOT

DOC = ROOT / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- generated:begin (bench/report.py) -->"
END = "<!-- generated:end -->"
PEERS = (("pycrdt", "pycrdt-websocket"), ("ywss", "y-websocket server"))
TARGET_CPU_US = 6.0
TARGET_KIB = 10.0
TARGET_COLD_MS = 50.0

Row = dict[str, Any]


def load(session: str | None) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    files = sorted(p for p in RESULTS.glob("*-*.json") if not p.name.endswith("-latest.json"))
    payloads = [(p, json.loads(p.read_text())) for p in files]
    if session is None:
        anchors = [d for p, d in payloads if p.name.startswith("fanout-full-")] or [d for _, d in payloads]
        if not anchors:
            raise SystemExit("no results in bench/results; run bench/run_all.sh first")
        session = str(anchors[-1]["session"])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p, d in payloads:
        if str(d.get("session")) != session:
            continue
        name = p.name.rsplit("-", 2)[0]
        by_name.setdefault(name, []).append(d)
    return session, by_name


def med(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values: Iterable[float | None], fmt: str) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    m = statistics.median(vals)
    if len(vals) == 1:
        return format(m, fmt)
    return f"{format(m, fmt)} ({format(min(vals), fmt)}–{format(max(vals), fmt)})"


def ratio_cells(per_repeat: list[dict[str, float | None]], lower_is_better: bool = True) -> list[str]:
    cells = []
    for peer, _ in PEERS:
        ratios = [r["tongpin"] / r[peer] for r in per_repeat if r.get("tongpin") and r.get(peer)]  # type: ignore[operator]
        if not ratios:
            cells.append("–")
            continue
        m = statistics.median(ratios)
        cells.append(f"{m:.2f}×")
    return cells


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def fanout_runs(results: dict[str, list[dict[str, Any]]], kind: str) -> list[list[Row]]:
    return [d["runs"] for d in results.get(f"fanout-{kind}", [])]


def pick(repeat: list[Row], server: str, clients: int) -> Row | None:
    return next((r for r in repeat if r["server"] == server and r["clients"] == clients), None)


def per_repeat(
    repeats: list[list[Row]], clients: int, value: Callable[[Row], float | None]
) -> list[dict[str, float | None]]:
    out = []
    for rep in repeats:
        row: dict[str, float | None] = {}
        for server in ("tongpin", "pycrdt", "ywss"):
            r = pick(rep, server, clients)
            row[server] = value(r) if r is not None else None
        out.append(row)
    return out


def latency_section(results: dict[str, list[dict[str, Any]]], kind: str) -> str:
    repeats = fanout_runs(results, kind)
    if not repeats:
        return f"_No `fanout-{kind}` results in this session._"
    sizes = sorted({r["clients"] for rep in repeats for r in rep})
    rows = []
    for n in sizes:
        for q in ("p50_ms", "p99_ms"):
            vals = per_repeat(repeats, n, lambda r, q=q: r["latency"][q])  # type: ignore[misc]
            cells = [spread((v[s] for v in vals), ".1f") for s in ("tongpin", "pycrdt", "ywss")]
            missing = sum(int(r["missing"]) for rep in repeats for r in rep if r["clients"] == n)
            rows.append([str(n), q[:3], *cells, *ratio_cells(vals), str(missing)])
    head = ["clients", "", "Tongpin ms", "pycrdt-websocket ms", "y-websocket server ms"]
    head += ["Tongpin ÷ pycrdt", "Tongpin ÷ y-ws", "missing (all)"]
    return table(head, rows)


def cpu_section(results: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for kind in ("full", "raw"):
        repeats = fanout_runs(results, kind)
        if not repeats:
            continue
        for n in sorted({r["clients"] for rep in repeats for r in rep}):
            vals = per_repeat(repeats, n, lambda r: r["cpu_per_delivery_us"])
            cells = [spread((v[s] for v in vals), ".1f") for s in ("tongpin", "pycrdt", "ywss")]
            t = med(v["tongpin"] for v in vals)
            verdict = "–"
            if n == 200 and t is not None:
                verdict = "met" if t <= TARGET_CPU_US else f"missed ({t:.1f} > {TARGET_CPU_US:g})"
            rows.append([kind, str(n), *cells, *ratio_cells(vals), verdict])
    head = ["receivers", "clients", "Tongpin µs", "pycrdt-websocket µs", "y-websocket server µs"]
    head += ["Tongpin ÷ pycrdt", "Tongpin ÷ y-ws", f"target ≤ {TARGET_CPU_US:g} µs"]
    return table(head, rows)


def split_section(results: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for kind in ("full", "raw"):
        with_200 = [rep for rep in fanout_runs(results, kind) if any(r["clients"] == 200 for r in rep)]
        for rep in with_200[:1]:
            for r in rep:
                if r["clients"] != 200:
                    continue
                d = r["delivered"] or 1
                rows.append(
                    [
                        kind,
                        r["server"],
                        f"{1e6 * r['server_user_s'] / d:.1f}",
                        f"{1e6 * r['server_sys_s'] / d:.1f}",
                        f"{r['server_cpu_share']:.2f}",
                        f"{r['generator_cpu_share']:.2f}",
                    ]
                )
    head = ["receivers", "server", "user µs/delivery", "system µs/delivery", "server cores", "generator cores"]
    return table(head, rows)


def asgi_section(results: dict[str, list[dict[str, Any]]]) -> str:
    data = results.get("asgi_send_cost", [])
    if not data:
        return "_No `asgi_send_cost` results in this session._"
    rows = []
    for d in data:
        for name in ("tongpin", "tongpin-asgi"):
            runs = [r for r in d["runs"] if r["server"] == name]
            rows.append(
                [
                    name,
                    spread((r["cpu_per_delivery_us"] for r in runs), ".2f"),
                    spread((r["latency"]["p50_ms"] for r in runs), ".1f"),
                    spread((r["latency"]["p99_ms"] for r in runs), ".1f"),
                    str(sum(int(r["missing"]) for r in runs)),
                ]
            )
        s = d["summary"]
        rows.append(["**ASGI send costs**", f"**+{s['asgi_extra_us']:.2f} µs per delivery**", "", "", ""])
    return table(["hub", "CPU µs/delivery", "p50 ms", "p99 ms", "missing"], rows)


def max_rate_section(results: dict[str, list[dict[str, Any]]]) -> str:
    data = results.get("max_rate", [])
    if not data:
        return "_No `max_rate` results in this session._"
    rows = []
    rep: dict[str, float | None] = {}  # one session: the servers may be spread over several files
    for d in data:
        for res in d["results"]:
            rep[res["server"]] = float(res["max_rate"]) or None
            failed = [s for s in res["steps"] if not s["passed"]]
            why = "; ".join(
                f"{s['rate']:.0f}/s: " + ", ".join(s.get("fail_reasons") or [s.get("error", "error")]) for s in failed
            )
            best = res["at_max"] or {}
            lat = best.get("latency", {})
            rows.append(
                [
                    res["server"],
                    str(d["clients"]),
                    f"{res['max_rate']:.0f}" if res["max_rate"] else f"< {res['first_failed_rate']:.0f}",
                    f"{res['deliveries_per_s']:.0f}",
                    f"{res['first_failed_rate']:.0f}" if res["first_failed_rate"] else "–",
                    f"{lat.get('p99_ms', 0):.0f}" if lat else "–",
                    f"{best.get('server_cpu_share', 0):.2f}" if best else "–",
                    f"{best.get('generator_cpu_share', 0):.2f}" if best else "–",
                    why or "–",
                ]
            )
    ratios = ratio_cells([rep])
    head = ["server", "clients", "max updates/s", "deliveries/s", "first failing rate", "p99 ms at max"]
    head += ["server cores at max", "generator cores at max", "why the next steps failed"]
    return (
        table(head, rows)
        + f"\n\nTongpin ÷ pycrdt-websocket: **{ratios[0]}**; Tongpin ÷ y-websocket server: **{ratios[1]}**"
        + " (higher is better)."
    )


def idle_section(results: dict[str, list[dict[str, Any]]], figure: str) -> str:
    data = results.get("idle", [])
    if not data:
        return "_No `idle` results in this session._"
    reps = []
    for d in data:
        reps.append({r["server"]: r for r in d["runs"] if r["figure"] == figure})
    rows = []
    if figure == "memory":
        vals = [
            {s: (rep[s]["kib_per_connection"] if s in rep else None) for s in ("tongpin", "pycrdt", "ywss")}
            for rep in reps
        ]
        for s in ("tongpin", "pycrdt", "ywss"):
            runs = [rep[s] for rep in reps if s in rep]
            rows.append(
                [
                    s,
                    spread((r["kib_per_connection"] for r in runs), ".1f"),
                    spread((r["rss_before_kib"] / 1024 for r in runs), ".0f"),
                    spread((r["rss_after_kib"] / 1024 for r in runs), ".0f"),
                    f"{runs[0]['still_open']}/{runs[0]['clients']}" if runs else "–",
                ]
            )
        t = med(v["tongpin"] for v in vals)
        verdict = "met" if t is not None and t <= TARGET_KIB else f"missed ({t})"
        ratios = ratio_cells(vals)
        return (
            table(["server", "KiB per idle connection", "RSS before, MiB", "RSS after, MiB", "open at the end"], rows)
            + f"\n\nTongpin ÷ pycrdt-websocket: **{ratios[0]}**; Tongpin ÷ y-websocket server: **{ratios[1]}**"
            + f" (lower is better). Target ≤ {TARGET_KIB:g} KiB: **{verdict}**."
        )
    vals = [{s: (rep[s]["connect_rate"] if s in rep else None) for s in ("tongpin", "pycrdt", "ywss")} for rep in reps]
    cpu = [
        {s: (rep[s]["server_cpu_per_connect_ms"] if s in rep else None) for s in ("tongpin", "pycrdt", "ywss")}
        for rep in reps
    ]
    for s in ("tongpin", "pycrdt", "ywss"):
        runs = [rep[s] for rep in reps if s in rep]
        rows.append(
            [
                s,
                spread((r["connect_rate"] for r in runs), ".0f"),
                spread((r["server_cpu_per_connect_ms"] for r in runs), ".2f"),
                spread((r["handshake_p99_ms"] for r in runs), ".0f"),
                spread((r["server_cpu_share"] for r in runs), ".2f"),
                spread((r["generator_cpu_share"] for r in runs), ".2f"),
            ]
        )
    r1, r2 = ratio_cells(vals)
    c1, c2 = ratio_cells(cpu)
    head = ["server", "clients/s", "server CPU ms per connect", "handshake p99 ms", "server cores", "generator cores"]
    return (
        table(head, rows)
        + f"\n\nRate, Tongpin ÷ pycrdt-websocket: **{r1}**, ÷ y-websocket server: **{r2}** (higher is better)."
        + f" CPU per connect, Tongpin ÷ pycrdt-websocket: **{c1}**, ÷ y-websocket server: **{c2}** (lower is better)."
    )


def cold_section(results: dict[str, list[dict[str, Any]]]) -> str:
    data = results.get("cold_load", [])
    if not data:
        return "_No `cold_load` results in this session._"
    by_server: dict[str, dict[str, Any]] = {}
    for d in data:
        for res in d["results"]:
            by_server[res["server"]] = res
    rows = []
    for s, res in by_server.items():
        loads = res["loads"]
        fill = res["fill"]
        stored = fill.get("store_rows", fill.get("log_rows", "–"))
        rows.append(
            [
                s,
                spread((x["server_complete_ms"] for x in loads), ".0f"),
                spread((x["synced_ms"] for x in loads), ".0f"),
                "yes" if res["complete_at_sync"] else "**no**",
                spread((x["complete_ms"] for x in loads), ".0f"),
                str(stored)
                + (f" + snapshot {fill['snapshot_bytes'] // 1024} KiB" if fill.get("snapshot_bytes") else ""),
            ]
        )
    head = ["server", "server answer complete, ms", "synced event, ms", "complete at synced?", "client complete, ms"]
    head += ["log rows in store at restart"]
    out = table(head, rows)
    t = by_server.get("tongpin")
    if t is not None:
        vals = [x["server_complete_ms"] for x in t["loads"]]
        m = med(vals)
        verdict = "met" if m is not None and m <= TARGET_COLD_MS else f"missed ({m})"
        reps = [
            {
                "tongpin": m,
                **{p: med(x["server_complete_ms"] for x in by_server[p]["loads"]) for p, _ in PEERS if p in by_server},
            }
        ]
        r1, r2 = ratio_cells(reps)
        out += (
            f"\n\nServer answer complete, Tongpin ÷ pycrdt-websocket: **{r1}**, ÷ y-websocket server: **{r2}**"
            f" (lower is better). Target ≤ {TARGET_COLD_MS:g} ms: **{verdict}**."
        )
    inproc_rows = []
    for s in ("tongpin", "tongpin-nocompact"):
        res = by_server.get(s)
        if res is None or not res.get("in_process"):
            continue
        runs = res["in_process"]["runs"]
        first, rest = runs[0], runs[1:] or runs
        inproc_rows.append(
            [
                s,
                f"{first['store_load_ms']:.1f} / {med(r['store_load_ms'] for r in rest):.1f}",
                f"{first['build_doc_ms']:.1f} / {med(r['build_doc_ms'] for r in rest):.1f}",
                f"{first['sync_answer_ms']:.1f} / {med(r['sync_answer_ms'] for r in rest):.1f}",
                f"{first['total_ms']:.1f} / {med(r['total_ms'] for r in rest):.1f}",
                str(first["log_rows"]),
                f"{first['snapshot_bytes'] // 1024} KiB",
            ]
        )
    if inproc_rows:
        head = ["Tongpin", "store.load ms", "build_doc ms", "sync answer ms", "total ms", "log rows", "snapshot"]
        out += "\n\nTongpin's own part, in-process (`bench.tongpin_load`; first run / median of the next four):\n\n"
        out += table(head, inproc_rows)
    return out


def render(session: str, results: dict[str, list[dict[str, Any]]]) -> str:
    any_payload = next(iter(v[0] for v in results.values() if v))
    m = any_payload["machine"]
    tp = m.get("tongpin", {})
    version = f"commit `{tp.get('commit')}`" + (" with local changes" if tp.get("local_changes") else "")
    parts = [
        BEGIN,
        "",
        f"Session `{session}`, {m['date']}. Machine: {m['cpus']} × {m['cpu_model']}, server pinned to core "
        f"{m['server_core']}, load generator to core {m['loadgen_core']}; Python {m['python']}, Node {m['node']}. "
        f"Tongpin {version}. Load average at start: {' '.join(m['loadavg_at_start'])} (the machine is shared).",
        "",
        "Result files in this session: "
        + ", ".join(f"{name} × {len(v)}" for name, v in sorted(results.items()) if not name.startswith("profile"))
        + " (fan-out files hold either the 2- and 50-client runs or the 200-client runs).",
        "",
        "### Update fan-out latency (one draft, 50 updates/s in total)",
        "",
        "Receivers that apply every update (unmodified providers, `--receivers full`):",
        "",
        latency_section(results, "full"),
        "",
        "Receivers that only read (`--receivers raw`), closer to the server's own latency:",
        "",
        latency_section(results, "raw"),
        "",
        "### Server CPU per delivered update (50 updates/s in total)",
        "",
        cpu_section(results),
        "",
        "User and system time per delivery at 200 clients (first repeat):",
        "",
        split_section(results),
        "",
        "### The generic ASGI layer on the broadcast path (200 clients, 50 updates/s)",
        "",
        asgi_section(results),
        "",
        "### Highest update rate with p99 ≤ 250 ms and nothing missing",
        "",
        max_rate_section(results),
        "",
        "### Memory per idle connection (2,000 clients on one draft)",
        "",
        idle_section(results, "memory"),
        "",
        "### Connect-and-sync rate (2,000 clients, 100 handshakes in flight)",
        "",
        idle_section(results, "connect"),
        "",
        "### Cold load of a draft of 20,000 logged updates after a restart",
        "",
        cold_section(results),
        "",
        END,
    ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session", default=None)
    parser.add_argument("--print", action="store_true", help="print instead of writing docs/BENCHMARKS.md")
    args = parser.parse_args()
    session, results = load(args.session)
    block = render(session, results)
    if args.print:
        print(block)
        return
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no generated markers")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + block + tail)
    print(f"wrote {DOC.relative_to(ROOT)} from session {session}")


if __name__ == "__main__":
    main()
