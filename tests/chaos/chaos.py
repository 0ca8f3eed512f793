#!/usr/bin/python3
"""A Jepsen-style chaos run of real keel processes (issue 12).

    /usr/bin/python3 tests/chaos/chaos.py --bin build/bin --seed 1 --duration 60

starts an N-node cluster (each node in its own network namespace when root, on loopback
otherwise), runs keel-chaos (concurrent clients through the C++ client library over pools,
load balancers and KV, blocking Clients on threads and --pipelined-clients more sharing one
pipelined client, recording an EDN history) while the seeded nemesis (nemesis.py) kills,
pauses, partitions, drops and delays packets and fills disks; then heals everything, has
keel-chaos read every object and every acknowledged durability key, runs
`keel-check --model kvstate` on the history, and prints one verdict line:

    chaos seed=1 nodes=3 mode=netns duration_s=60 faults_kill=2 ... ops_ok=.. ops_fail=..
    ops_info=.. leader_changes=.. lost_acked=0 disk_full_exits=0 disk_full_lagging=0
    linearizable=yes not_injectable=none verdict=PASS

PASS needs: the history linearizable, no acknowledged durability write missing, the final
reads answered, every restart up, no node dead on its own, and every node whose disk filled
still running and caught up once space returned (issue #12). The output folder (--out)
holds history.edn, schedule.txt (the nemesis, timed), n<i>.log (every node's log),
keel-chaos.log, keel-check.txt and verdict.txt.

Exit status: 0 when the verdict is what --expect asks (pass: verdict=PASS; fail: the
history is not linearizable) and, with --require-all-faults, every fault kind that can be
injected here happened (the verdict line names those that cannot); 1 otherwise; 2 when the harness itself
failed. Everything it makes (processes, namespaces, veths, the bridge, tmpfs mounts) is removed
on the way out, also on failure or SIGTERM; leftovers of a run that was SIGKILLed are removed
by the next run (janitor.py).
"""
import argparse
import atexit
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import janitor  # noqa: E402
from cluster import Cluster, free_ports  # noqa: E402
from nemesis import KINDS, Nemesis  # noqa: E402
from network import LoopbackNetwork, NetnsNetwork, netns_available  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="directory with keel, keel-chaos, keel-check")
    p.add_argument("--keel", default="keel", help="node binary in --bin (keel-planted for a planted bug)")
    p.add_argument("--planted-bug", help="passed to keel-planted: stale-reads, ack-before-fsync, apply-twice, ...")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    p.add_argument("--duration", type=float, default=60, help="seconds of faults")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--pipelined-clients", type=int, default=3,
                   help="keel-chaos: more clients sharing one pipelined client (net/pipeline.h)")
    p.add_argument("--call-timeout-ms", type=int, default=3000,
                   help="keel-chaos: an operation's deadline, retries included; shorter than most faults, so "
                        "that histories hold indeterminate (:info) and refused (:fail) operations too")
    p.add_argument("--faults", help="comma-separated subset of: " + ",".join(KINDS))
    p.add_argument("--out", help="output folder (default: a new /tmp/keel-chaos-seed<N>-*)")
    p.add_argument("--loopback", action="store_true", help="no namespaces even as root")
    p.add_argument("--expect", choices=("pass", "fail"), default="pass",
                   help="fail: a planted bug is expected to make the history non-linearizable")
    p.add_argument("--require-all-faults", action="store_true", help="fail unless every fault kind happened")
    p.add_argument("--check-time-limit", type=int, default=150, help="keel-check's time limit, seconds")
    return p.parse_args()


def leader_changes(out, nodes):
    """Terms in which some node became leader, from the nodes' role_change log lines."""
    terms = set()
    for i in range(1, nodes + 1):
        try:
            with open(os.path.join(out, f"n{i}.log"), errors="replace") as f:
                for line in f:
                    m = re.search(r"role=leader term=(\d+)", line)
                    if m:
                        terms.add(int(m.group(1)))
        except OSError:
            pass
    return len(terms)


def run_clients(args, cluster, nemesis, out):
    """Runs keel-chaos under the nemesis; returns its summary as a dict (empty if it failed)."""
    log = open(os.path.join(out, "keel-chaos.log"), "w")
    clients = subprocess.Popen(
        [os.path.join(args.bin, "keel-chaos"), f"--endpoints={cluster.endpoints()}", "--cluster-id=77",
         f"--clients={args.clients}", f"--pipelined-clients={args.pipelined_clients}", f"--seed={args.seed}", f"--call-timeout-ms={args.call_timeout_ms}", f"--history={os.path.join(out, 'history.edn')}"]
        + cluster.client_flags(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    janitor.track(clients)
    try:
        nemesis.run(args.duration)
        nemesis.heal_all()
        leader = cluster.wait_leader(30)
        nemesis.log(f"after healing: leader {leader or 'none within 30 s'}")
        clients.stdin.write("stop\n")
        clients.stdin.flush()
        stdout, _ = clients.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        clients.kill()
        stdout, _ = clients.communicate()
    log.write(stdout)
    log.close()
    lines = [line for line in stdout.splitlines() if "ops_ok=" in line]
    return dict(kv.split("=", 1) for kv in lines[-1].split()) if lines else {}


def check_history(args, out):
    """keel-check's verdict on the history: yes, no, unknown or error."""
    history = os.path.join(out, "history.edn")
    if not os.path.exists(history):
        return "error"
    with open(os.path.join(out, "keel-check.txt"), "w") as report:
        code = subprocess.run([os.path.join(args.bin, "keel-check"), "--model", "kvstate", "--jobs", "2",
                               "--time-limit", str(args.check_time_limit), history],
                              stdout=report, stderr=subprocess.STDOUT, timeout=args.check_time_limit + 60).returncode
    return {0: "yes", 1: "no", 3: "unknown"}.get(code, "error")


def verdict_line(args, mode, nemesis, summary, linearizable, leaders):
    lost = summary.get("lost_acked", "?")
    problems = []
    if linearizable != "yes":
        problems.append(f"linearizable={linearizable}")
    if lost != "0":
        problems.append(f"lost_acked={lost}")
    if summary.get("final_reads") != "ok":
        problems.append("final reads failed")
    if nemesis.restart_failures or nemesis.unexpected_exits:
        problems.append(f"node failures {nemesis.restart_failures + nemesis.unexpected_exits}")
    if nemesis.disk_full_exits:
        problems.append(f"disk_full_exits={len(nemesis.disk_full_exits)} {nemesis.disk_full_exits}")
    if nemesis.disk_full_lagging:
        problems.append(f"disk_full_lagging={len(nemesis.disk_full_lagging)} (nodes {nemesis.disk_full_lagging})")
    verdict = "PASS" if not problems else ("UNKNOWN" if problems == ["linearizable=unknown"] else "FAIL")
    faults = " ".join(f"faults_{k.replace('-', '_')}={nemesis.counts[k]}" for k in KINDS)
    all_faults = all(nemesis.counts[k] > 0 for k in KINDS)
    line = (f"chaos seed={args.seed} nodes={args.nodes} mode={mode} binary={args.keel}"
            f"{' planted_bug=' + args.planted_bug if args.planted_bug else ''} duration_s={args.duration:g} "
            f"{faults} all_faults={'yes' if all_faults else 'no'} "
            f"ops_ok={summary.get('ops_ok', '?')} ops_fail={summary.get('ops_fail', '?')} "
            f"ops_info={summary.get('ops_info', '?')} durable_acked={summary.get('durable_acked', '?')} "
            f"lost_acked={lost} leader_changes={leaders} restart_failures={len(nemesis.restart_failures)} "
            f"unexpected_exits={len(nemesis.unexpected_exits)} disk_full_exits={len(nemesis.disk_full_exits)} "
            f"disk_full_lagging={len(nemesis.disk_full_lagging)} linearizable={linearizable} "
            f"not_injectable={','.join(nemesis.not_injectable) or 'none'} verdict={verdict}")
    return line, verdict, all_faults, problems


def main():
    args = parse_args()
    janitor.clean_stale()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix=f"keel-chaos-seed{args.seed}-"))
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # a previous run's files (node logs are appended to)
        if re.fullmatch(r"n\d+\.log|history\.edn|schedule\.txt|relay\.log|keel-chaos\.log|keel-check\.txt|"
                        r"verdict\.txt", name):
            os.remove(os.path.join(out, name))
    work = tempfile.mkdtemp(prefix=f"keel-chaos-{os.getpid()}-")
    use_netns, why = (False, "--loopback") if args.loopback else netns_available()
    if not use_netns:
        print(f"chaos: no network namespaces ({why}): loopback; packet loss and full disks cannot be injected")
    relay_ports = dict(zip([(i, j) for i in range(1, args.nodes + 1) for j in range(1, args.nodes + 1) if i != j],
                           free_ports(args.nodes * (args.nodes - 1))))
    network = (NetnsNetwork if use_netns else LoopbackNetwork)(args.nodes, relay_ports)
    cluster = Cluster(args.bin, args.keel, args.nodes, work, out, tmpfs=use_netns, planted_bug=args.planted_bug)
    janitor.on_exit(cluster.close, network.teardown)
    network.setup()
    cluster.setup(network, relay_ports)
    network.relay = cluster.relay
    for i in cluster.ids():
        cluster.start(i, bootstrap=True)
    if not cluster.wait_leader(30):
        print("chaos: no leader within 30 s of starting; see the node logs in", out)
        return 2
    kinds = args.faults.split(",") if args.faults else None
    nemesis = Nemesis(cluster, network, args.seed, os.path.join(out, "schedule.txt"), kinds)
    summary = run_clients(args, cluster, nemesis, out)
    cluster.close()  # the logs are complete before anyone reads them
    linearizable = check_history(args, out)
    line, verdict, all_faults, problems = verdict_line(args, network.kind, nemesis, summary, linearizable,
                                                       leader_changes(out, args.nodes))
    with open(os.path.join(out, "verdict.txt"), "w") as f:
        f.write(line + "\n")
        f.writelines(f"disk-full: {o}\n" for o in nemesis.disk_outcomes)
        f.writelines(f"problem: {p}\n" for p in problems)
    print(line)
    print(f"chaos: output in {out}" + "".join(f"\nchaos: disk-full: {o}" for o in nemesis.disk_outcomes))
    # A planted bug must be caught by the checker itself, not by some other failure.
    ok = verdict == "PASS" if args.expect == "pass" else linearizable == "no"
    missing = [k for k in KINDS if nemesis.counts[k] == 0 and k not in nemesis.not_injectable]
    if args.require_all_faults and missing:
        print("chaos: not every fault kind happened: " + ", ".join(missing))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as e:  # the harness failed: say so, clean up (atexit), exit 2
        import traceback
        traceback.print_exc()
        print(f"chaos: harness error: {e}")
        sys.exit(2)
