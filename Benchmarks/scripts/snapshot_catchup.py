#!/usr/bin/env python3
"""Memory of a snapshot catch-up (issue 13): three `rafty serve` nodes take MIB values of 1 MiB,
then a fourth joins and catches up by snapshot (threshold 250 entries, 100 kept behind it) while
a writer keeps writing small values (about 20/s). With `--follower-down`, one of the three is
stopped before the writes instead and restarted after them (no fourth node).
Prints each node's RSS before the transfer and its peak during it (VmHWM, reset just before),
the transfer time, leader changes, and the writer's answers.

    python3 Benchmarks/scripts/snapshot_catchup.py --binary .build/release/rafty [--mib 300] [--follower-down]
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/bench"))
from cluster import Cluster  # noqa: E402


def rss_kib(node, field):
    with open("/proc/%d/status" % node.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(node):
    with open("/proc/%d/clear_refs" % node.proc.pid, "w") as f:
        f.write("5")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--mib", type=int, default=300)
    parser.add_argument("--snapshot-threshold", type=int, default=250)
    parser.add_argument("--follower-down", action="store_true", help="restart a follower that missed the writes")
    args = parser.parse_args()
    cluster = Cluster(os.path.abspath(args.binary), size=3 if args.follower_down else 4)
    try:
        first = cluster.nodes[:3]
        for n in cluster.nodes:
            # A 1 GiB state takes longer than the default 10 s to reach a new member.
            n.extra = ["--snapshot-threshold", str(args.snapshot_threshold), "--trailing-logs", "100", "--catch-up-timeout", "120"]
        for n in first:
            n.start(peers=[p for p in first if p is not n])
        leader = cluster.leader()
        assert leader, cluster.logs_tail()
        if args.follower_down:
            new = next(n for n in first if n is not leader)
            new.stop()
            first = [n for n in first if n is not new]
        else:
            new = cluster.nodes[3]
        value = os.urandom(1 << 20)
        failures = []

        def fill(part):
            for i in range(part, args.mib, 8):
                for _ in range(20):
                    code, _ = leader.request("PUT", "/v1/kv/big-%d" % i, value, timeout=30)
                    if code == 200:
                        break
                    time.sleep(0.2)
                else:
                    failures.append(i)

        threads = [threading.Thread(target=fill, args=(p,)) for p in range(8)]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("wrote %d MiB in %.1f s (%d failed)" % (args.mib, time.time() - started, len(failures)))
        term = leader.status()["term"]
        time.sleep(2)  # snapshots settle
        before = {n.id: rss_kib(n, "VmRSS") for n in first}
        for n in first:
            reset_peak(n)

        stop = threading.Event()
        answers = {}

        def small_writes():
            i = 0
            while not stop.is_set():
                code, _ = leader.request("PUT", "/v1/kv/small-%d" % (i % 100), b"x" * 256, timeout=10)
                answers[code] = answers.get(code, 0) + 1
                i += 1
                time.sleep(0.05)  # about 20 writes/s: the 100 trailing entries outlast an install

        writer = threading.Thread(target=small_writes)
        writer.start()
        started = time.time()
        if args.follower_down:
            new.start()
            code, answer = "restarted", ""
        else:
            new.extra += ["--join"]
            new.start(peers=[leader])
            body = json.dumps({"id": int(new.id), "address": new.raft}).encode()
            code, answer = leader.request("POST", "/v1/members", body, timeout=300)
        target = leader.status()["commitIndex"]
        while time.time() - started < 300:
            s = new.status()
            if s and s.get("lastApplied", 0) >= target:
                break
            time.sleep(0.05)
        took = time.time() - started
        stop.set()
        writer.join()
        print("%s: %s %s; it applied index %d after %.1f s" % (
            "follower" if args.follower_down else "members add", code, answer[:80], target, took))
        print("leader term %d before, %d after; small writes during the transfer: %s" % (
            term, leader.status()["term"], ", ".join("%s: %d" % kv for kv in sorted(answers.items(), key=str))))
        print("| node | RSS before (MiB) | peak during (MiB) | peak - before |")
        print("|---|---:|---:|---:|")
        for n in first:
            peak = rss_kib(n, "VmHWM")
            print("| %s%s | %d | %d | %+d |" % (n.id, " (leader)" if n is leader else "", before[n.id] / 1024, peak / 1024, (peak - before[n.id]) / 1024))
        print("| %s (%s) | – | %d | – |" % (new.id, "restarted" if args.follower_down else "new", rss_kib(new, "VmHWM") / 1024))
        for n in cluster.nodes:
            with open(n.log_path, errors="replace") as f:
                slow = [line.rstrip() for line in f if "slow storage" in line or "role changed" in line]
            print("node %s: %d lines on elections and slow storage%s" % (n.id, len(slow), "".join("\n  " + line[:200] for line in slow[-8:])))
        for n, who in ((leader, "first leader"), (new, "restarted node" if args.follower_down else "new member")):
            with open(n.log_path, errors="replace") as f:
                lines = [line.rstrip() for line in f if "snapshot" in line.lower() and ("install" in line or "send" in line or "sent" in line)]
            print("the %s's log on snapshot transfers (%d lines):" % (who, len(lines)))
            for line in lines[-8:]:
                print("  " + line[:220])
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
