#!/usr/bin/env python3
"""CPU and context switches per request of each `rafty serve` node under a wrk load.

Starts a 3-node cluster with ../shared/bench's harness (the same one kvbench.py uses), runs wrk
with CLIENTS connections for SECONDS against the leader (or a follower), and prints requests/s and,
for each node (leader first), user and system CPU time and context switches per request, read from
/proc before and after the load.

usage: cpu_per_op.py BINARY CLIENTS SECONDS [leader|follower] [--read]
environment: PROF_HOOK — a command run during the load with PID replaced by the pid of the node
             PROF_NODE (index, leader first; default 0), e.g.
             PROF_HOOK="perf record -F 2000 -g -p PID -o /tmp/perf.data -- sleep 4"
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "../../../shared/bench"))
from kvbench import Rafty, wrk, RAFTY_LUA, RAFTY_READ_LUA  # noqa: E402

args = [a for a in sys.argv[1:] if a != "--read"]
binary, clients, seconds = args[0], int(args[1]), int(args[2])
to = args[3] if len(args) > 3 else "leader"
tick = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return int(fields[11]) * 1000 / tick, int(fields[12]) * 1000 / tick  # user, system ms


def switches(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        for line in open(f"/proc/{pid}/task/{task}/status"):
            if "ctxt_switches" in line:
                total += int(line.split()[1])
    return total


sut = Rafty(binary)
url = sut.start(to)
try:
    lua = "/tmp/cpu_per_op.lua"
    open(lua, "w").write(RAFTY_READ_LUA if "--read" in sys.argv else RAFTY_LUA)
    if "--read" in sys.argv:  # as kvbench.py does: one thread writes keys 0, 1, 2, ... once each
        open(lua, "w").write(RAFTY_LUA)
        wrk(url, lua, 16, 6, threads=1)
        open(lua, "w").write(RAFTY_READ_LUA)
    wrk(url, lua, 4, 2)  # warm-up
    leader = sut.cluster.leader()
    pids = [n.proc.pid for n in [leader] + [n for n in sut.cluster.nodes if n is not leader]]
    before = [(cpu(p), switches(p)) for p in pids]
    hook = os.environ.get("PROF_HOOK")
    probe = subprocess.Popen(hook.replace("PID", str(pids[int(os.environ.get("PROF_NODE", "0"))])), shell=True) if hook else None
    result = wrk(url, lua, clients, seconds)
    after = [(cpu(p), switches(p)) for p in pids]
    if probe:
        probe.wait()
    n = result["rps"] * seconds
    print(f"{clients} clients to the {to}: {result['rps']:.0f} requests/s, p50 {result['lat_ms']['p50']} ms, "
          f"p99 {result['lat_ms']['p99']} ms, non-2xx {result['non2xx']}")
    for role, pid, b, a in zip(["leader", "follower", "follower"], pids, before, after):
        print(f"  {role} (pid {pid}): CPU user {(a[0][0] - b[0][0]) / n * 1000:.0f} + system {(a[0][1] - b[0][1]) / n * 1000:.0f} µs"
              f" per request, {(a[1] - b[1]) / n:.1f} context switches per request")
finally:
    sut.close()
