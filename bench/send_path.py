"""The cost of one delivery on Tongpin's broadcast path, layer by layer, in-process.

    .venv/bin/python -m bench.send_path [--peers 200] [--rounds 400] [--hz 50]

One asyncio process (pinned to core 0) holds ``--peers`` loopback TCP
connections whose other ends are drained by a reader process on core 1. It
then sends one 42-byte frame to every peer, ``--rounds`` times at ``--hz``
rounds per second (as a broadcast at 50 updates/s would), through each layer
in turn, and reports CPU (user and system, from ``getrusage``) per send:

1. ``socket.send``: the kernel's cost, the floor for one write per delivery.
2. ``transport.write``: asyncio's selector transport on top.
3. ``RawSocket.write`` (+ ``buffered``): Tongpin's raw extension on top.
4. ``Connection.send``: the connection's state checks and counters on top.
5. ``Draft.broadcast``: the loop over the draft's peers, one ``Outgoing``.

Differences between rows are what each layer adds. It imports the Tongpin
of the current directory; to measure another checkout run it from there
with ``PYTHONPATH=THAT_TREE:THIS_TREE``. The system time of rows
1-2 on loopback includes the receiving side's TCP processing (it runs on the
sender's core), which a real network would move to the clients' machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

READER = """
import selectors, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
open_socks = n
while open_socks:
    for key, _ in sel.select():
        if not key.fileobj.recv(1 << 16):
            sel.unregister(key.fileobj)
            open_socks -= 1
"""


class _Sink(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


class _FakeProto:
    """What ``RawSocket`` reads from uvicorn's protocol object."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.close_sent = False
        self.disconnected = False


class _FakeWS:
    def __init__(self, raw: Any) -> None:
        from hub.ws_protocol import RAW_EXTENSION

        self.scope = {"extensions": {RAW_EXTENSION: {"socket": raw}}}


def cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


async def timed(label: str, rounds: int, hz: float, sends: int, once: Callable[[], None]) -> dict[str, float | str]:
    u0, s0 = cpu()
    for _ in range(rounds):
        once()
        await asyncio.sleep(1 / hz if hz else 0)
    u1, s1 = cpu()
    n = rounds * sends
    user, system = (u1 - u0) / n * 1e6, (s1 - s0) / n * 1e6
    return {"layer": label, "user_us": user, "sys_us": system, "total_us": user + system}


def connect_reader(peers: int) -> tuple[subprocess.Popen[str], list[socket.socket]]:
    """The far ends of ``peers`` loopback connections, drained on core 1."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(peers + 16)
    port = server.getsockname()[1]
    reader = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-c", READER, str(port), str(peers)], stdout=subprocess.PIPE, text=True
    )
    socks = [server.accept()[0] for _ in range(peers)]
    server.close()
    assert reader.stdout is not None
    reader.stdout.readline()
    return reader, socks


async def run(socks: list[socket.socket], rounds: int, hz: float) -> list[dict[str, float | str]]:
    from hub.connection import Connection
    from hub.state import Counters
    from hub.ws_protocol import RawSocket
    from rooms.codec import ws_binary_frame
    from rooms.draft import Draft, Outgoing

    loop = asyncio.get_running_loop()
    peers = len(socks)
    transports = []
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport, _ = await loop.connect_accepted_socket(_Sink, s)
        transports.append(transport)
    payload = b"\x00\x02" + bytes([38]) + b"\x01\x01\x8b\x9c\xe2\x05\x00\x04\x01\x01t" + b"x" * 25
    frame = ws_binary_frame(payload)
    counters = Counters()
    raws = [RawSocket(_FakeProto(t)) for t in transports]  # type: ignore[arg-type]
    conns = [Connection(_FakeWS(r), counters, max_outbound=4 << 20) for r in raws]  # type: ignore[arg-type]
    for c in conns:
        c.state = c.state.OPEN

    draft = Draft.__new__(Draft)  # only its peers and broadcast are used
    draft.peers = set(conns)  # type: ignore[assignment]

    def bare() -> None:
        for s in socks:
            s.send(frame)

    def via_transport() -> None:
        for t in transports:
            t.write(frame)

    def via_raw() -> None:
        for r in raws:
            if r.buffered() <= 4 << 20:
                r.write(frame)

    def via_connection() -> None:
        out = Outgoing(payload)
        for c in conns:
            c.send(out)

    def via_broadcast() -> None:
        draft.broadcast(payload, None)

    results = []
    for label, fn in (
        ("socket.send", bare),
        ("transport.write", via_transport),
        ("RawSocket.write", via_raw),
        ("Connection.send", via_connection),
        ("Draft.broadcast", via_broadcast),
    ):
        await timed(label, max(1, rounds // 10), hz, peers, fn)  # warm up
        results.append(await timed(label, rounds, hz, peers, fn))
    for t in transports:
        t.close()
    await asyncio.sleep(0.1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--hz", type=float, default=50.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    started = time.monotonic()
    reader, socks = connect_reader(args.peers)
    results = asyncio.run(run(socks, args.rounds, args.hz))
    reader.wait(timeout=30)
    prev = 0.0
    print(f"{'layer':18s} {'user µs':>8s} {'sys µs':>8s} {'total µs':>9s} {'adds µs':>8s}")
    for r in results:
        total = float(r["total_us"])
        print(f"{r['layer']:18s} {r['user_us']:8.2f} {r['sys_us']:8.2f} {total:9.2f} {total - prev:8.2f}")
        prev = total
    print(f"({args.peers} peers, {args.rounds} rounds at {args.hz:g}/s, {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
