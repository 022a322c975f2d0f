#!/usr/bin/env python3
"""Overload (issue 13): CLIENTS concurrent clients, each on its own keep-alive connection to the
leader, each overwriting its own key with VALUE_KIB values for SECONDS. Prints the answers by
status, each node's peak RSS (VmHWM) and whether it survived, then checks that every key holds
the client's last acknowledged value or one it sent after it (an answer that never came).

    python3 Benchmarks/scripts/overload.py --binary .build/release/rafty [--clients 1000 --seconds 30 --value-kib 256]
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/bench"))
from cluster import Cluster  # noqa: E402


def vmhwm_mib(node):
    with open("/proc/%d/status" % node.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


async def client(number, host, port, value_bytes, deadline, counts, latest):
    """Returns (last acknowledged sequence, highest sequence sent)."""
    acknowledged, sent = -1, -1
    reader = writer = None
    sequence = 0
    while time.time() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            body = (b"%d:%d:" % (number, sequence)).ljust(value_bytes, b"v")
            writer.write(b"PUT /v1/kv/c%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (number, len(body)) + body)
            sent = sequence
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=60)
            status = int(status_line.split()[1])
            length = 0
            retry_after = 0.0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "retry-after":
                    retry_after = float(value)
            await reader.readexactly(length)
            counts[status] = counts.get(status, 0) + 1
            if status == 200:
                acknowledged = sequence
            elif status in (429, 503):
                await asyncio.sleep(min(retry_after or 0.1, 1.0))
            sequence += 1
        except Exception as error:  # a dropped connection: outcome unknown
            counts[type(error).__name__] = counts.get(type(error).__name__, 0) + 1
            if writer is not None:
                writer.close()
            writer = None
            sequence += 1
            await asyncio.sleep(0.1)
    if writer is not None:
        writer.close()
    latest[number] = (acknowledged, sent)


async def load(leader, clients, seconds, value_bytes):
    host, port = leader.http.split(":")
    counts, latest = {}, {}
    deadline = time.time() + seconds
    await asyncio.gather(*(client(n, host, int(port), value_bytes, deadline, counts, latest) for n in range(clients)))
    return counts, latest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--value-kib", type=int, default=256)
    args = parser.parse_args()
    cluster = Cluster(os.path.abspath(args.binary), size=3)
    try:
        cluster.start()
        leader = cluster.leader()
        assert leader, cluster.logs_tail()
        term = leader.status()["term"]
        started = time.time()
        counts, latest = asyncio.run(load(leader, args.clients, args.seconds, args.value_kib << 10))
        took = time.time() - started
        answers = sum(v for k, v in counts.items() if isinstance(k, int))
        print("%d clients, %d KiB values, %.0f s: %s" % (args.clients, args.value_kib, took, ", ".join("%s: %d" % kv for kv in sorted(counts.items(), key=str))))
        print("acknowledged writes/s: %.0f; 504 share of answers: %.2f %%" % (counts.get(200, 0) / took, 100.0 * counts.get(504, 0) / max(answers, 1)))
        print("peak RSS (MiB): %s; alive: %s; term %d before, %s after" % (
            [vmhwm_mib(n) for n in cluster.nodes], [n.alive() for n in cluster.nodes], term, (cluster.leader() or leader).status()["term"]))
        lost = 0
        current = cluster.leader()
        for number, (acknowledged, sent) in latest.items():
            if acknowledged < 0:
                continue
            code, body = current.request("GET", "/v1/kv/c%d?consistency=linearizable" % number, timeout=10)
            parts = body.split(b":", 2) if code == 200 else []
            held = int(parts[1]) if len(parts) == 3 and parts[0] == b"%d" % number else -1
            if not (acknowledged <= held <= sent):
                lost += 1
        print("keys checked: %d; acknowledged writes lost: %d" % (sum(1 for a, _ in latest.values() if a >= 0), lost))
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
