"""The seeded nemesis of a chaos run. One random.Random(seed) decides every fault: its kind,
its target, its parameters and how long it lasts; each is applied, held, healed, and followed
by a quiet gap, one at a time. The first faults are a shuffled list of every kind (so that a
run as short as CI's exercises each one), then kinds are drawn at random. The schedule, with
the time of every step, goes to the schedule file as it happens.

Kinds:
  kill              SIGKILL a node (the leader half the time), restart it after a while
  pause             SIGSTOP the leader for longer than an election timeout, then SIGCONT
  partition-halves  random halves, both directions cut
  partition-leader  the leader cut off from every other node
  partition-ring    majority ring: with 5 nodes each node reaches only its two neighbours (a
                    majority, no two the same); with 3 a directed ring (i hears only i-1)
  partition-oneway  one node's traffic cut in one direction only (to or from the others)
  loss              every node drops 20-40% of its outbound peer packets (iptables statistic)
  delay             every raft link delayed by 100-400 ms (the relay: no sch_netem here)
  disk-full         a node's data dir (its own tmpfs) filled up; it must keep running (refusing
                    writes, keel_storage_stalled 1) and, once space is freed, catch up: its
                    applied index reaches what the others had applied, within 30 s. An exit
                    (disk_full_exits) or no catch-up (disk_full_lagging) fails the verdict
What cannot be injected here (no root: loss, disk-full) is skipped and reported by name.
"""
import os
import random
import subprocess
import time

KINDS = ["kill", "pause", "partition-halves", "partition-leader", "partition-ring", "partition-oneway",
         "loss", "delay", "disk-full"]


class Nemesis:
    def __init__(self, cluster, network, seed, schedule_path, kinds=None):
        self.c, self.net = cluster, network
        self.rng = random.Random(seed)
        self.schedule = open(schedule_path, "w")
        self.start = time.monotonic()
        self.counts = {kind: 0 for kind in KINDS}
        self.not_injectable = []
        wanted = kinds or KINDS
        self.kinds = []
        for kind in wanted:
            if kind == "loss" and not network.can_lose_packets:
                self.not_injectable.append("loss")
            elif kind == "disk-full" and not cluster.tmpfs:
                self.not_injectable.append("disk-full")
            else:
                self.kinds.append(kind)
        self.disk_outcomes = []        # what each full disk did to its node
        self.disk_full_exits = []      # (node, exit code): a full disk killed it (issue #12)
        self.disk_full_lagging = []    # nodes that did not catch up after space returned
        self.restart_failures = []     # (node, exit code) of restarts that did not come up
        self.unexpected_exits = []     # (node, exit code) of nodes that died without a fault

    def log(self, text):
        self.schedule.write(f"t={time.monotonic() - self.start:7.2f} {text}\n")
        self.schedule.flush()

    def run(self, duration):
        """Applies faults until `duration` seconds after start, then returns (healed)."""
        order = self.rng.sample(self.kinds, len(self.kinds))
        time.sleep(2.0)  # a quiet start: clients set up their objects
        while True:
            self.revive_unexpected()
            kind = order.pop(0) if order else self.rng.choice(self.kinds)
            hold = self.rng.uniform(2.0, 3.5)
            if time.monotonic() - self.start + hold + 1.0 > duration:
                break
            self.counts[kind] += 1
            getattr(self, "fault_" + kind.replace("-", "_"))(hold)
            time.sleep(self.rng.uniform(0.5, 1.2))
        self.log("nemesis done")

    # --- helpers ---

    def pick(self, leader_bias=0.5):
        leader = self.c.leader()
        if leader and self.rng.random() < leader_bias:
            return leader
        return self.rng.choice(self.c.ids())

    def cut_both(self, side_a, side_b):
        links = [(a, b) for a in side_a for b in side_b] + [(b, a) for a in side_a for b in side_b]
        self.net.cut(links)
        return links

    def heal_network(self):
        self.net.heal(self.c.relay)
        self.log("heal network")

    def restart(self, i):
        self.c.start(i)
        time.sleep(0.5)
        if not self.c.alive(i):
            code = self.c.procs[i].wait()
            self.restart_failures.append((i, code))
            self.log(f"restart of node {i} FAILED: exit {code}")
        else:
            self.log(f"restarted node {i}")

    # --- faults (each applies, holds for `hold` seconds, heals) ---

    def fault_kill(self, hold):
        i = self.pick()
        code = self.c.kill(i)
        self.log(f"kill node {i} (SIGKILL, exit {code}) for {hold:.1f}s")
        time.sleep(hold)
        self.restart(i)

    def fault_pause(self, hold):
        i = self.c.leader() or self.rng.choice(self.c.ids())
        pause = hold + 1.5  # well past the election timeout
        self.c.pause(i)
        self.log(f"pause node {i} (SIGSTOP) for {pause:.1f}s")
        time.sleep(pause)
        self.c.resume(i)
        self.log(f"resume node {i} (SIGCONT)")

    def fault_partition_halves(self, hold):
        ids = self.rng.sample(self.c.ids(), self.c.n)
        small, big = ids[:self.c.n // 2], ids[self.c.n // 2:]
        self.cut_both(small, big)
        self.log(f"partition halves {sorted(small)} | {sorted(big)} for {hold:.1f}s")
        time.sleep(hold)
        self.heal_network()

    def fault_partition_leader(self, hold):
        leader = self.c.leader() or self.rng.choice(self.c.ids())
        self.cut_both([leader], [j for j in self.c.ids() if j != leader])
        self.log(f"partition isolate leader {leader} for {hold:.1f}s")
        time.sleep(hold)
        self.heal_network()

    def fault_partition_ring(self, hold):
        ring = self.rng.sample(self.c.ids(), self.c.n)
        position = {node: k for k, node in enumerate(ring)}
        n = self.c.n
        if n >= 5:
            def reaches(a, b):
                return (position[a] - position[b]) % n in (1, n - 1)
        else:
            def reaches(a, b):  # directed: a's messages reach only the next one in the ring
                return (position[b] - position[a]) % n == 1
        links = [(a, b) for a in ring for b in ring if a != b and not reaches(a, b)]
        self.net.cut(links)
        self.log(f"partition majority ring {ring} (cut {links}) for {hold:.1f}s")
        time.sleep(hold)
        self.heal_network()

    def fault_partition_oneway(self, hold):
        i = self.pick()
        others = [j for j in self.c.ids() if j != i]
        outbound = self.rng.random() < 0.5
        links = [(i, j) for j in others] if outbound else [(j, i) for j in others]
        self.net.cut(links)
        self.log(f"partition one-way: node {i} {'cannot send' if outbound else 'cannot hear'} (cut {links}) "
                 f"for {hold:.1f}s")
        time.sleep(hold)
        self.heal_network()

    def fault_loss(self, hold):
        p = self.rng.uniform(0.2, 0.4)
        self.net.lose(self.c.ids(), p)
        self.log(f"packet loss {p:.2f} on every peer link for {hold:.1f}s")
        time.sleep(hold)
        self.heal_network()

    def fault_delay(self, hold):
        ms = self.rng.randint(100, 400)
        for (i, j) in self.c.relay_ports:
            self.c.relay_command(f"delay {i} {j} {ms}")
        self.log(f"delay {ms} ms on every raft link for {hold:.1f}s")
        time.sleep(hold)
        for (i, j) in self.c.relay_ports:
            self.c.relay_command(f"delay {i} {j} 0")
        self.log("delay off")

    def fault_disk_full(self, hold):
        i = self.pick()
        filler = os.path.join(self.c.data_dir(i), "chaos-filler")
        # dd stops at ENOSPC: the tmpfs is then full to the last page.
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        self.log(f"disk full on node {i} for {hold:.1f}s")
        time.sleep(hold)
        exited = not self.c.alive(i)
        code = self.c.procs[i].wait() if exited else None
        stalled = None if exited else self.c.figure(i, "keel_storage_stalled")
        os.remove(filler)
        if exited:
            # A full disk must not kill a node: it refuses writes and waits for space.
            self.disk_full_exits.append((i, code))
            outcome = f"node {i}: exited {code} (FAIL: a full disk must not kill a node)"
            self.log(f"disk space back on node {i} ({outcome})")
            self.disk_outcomes.append(outcome)
            self.restart(i)
            return
        self.log(f"disk space back on node {i} (kept running, keel_storage_stalled={stalled}); waiting for it "
                 f"to catch up")
        outcome = f"node {i}: kept running (stalled={stalled}), " + self.wait_caught_up(i, 30.0)
        self.disk_outcomes.append(outcome)
        self.log(outcome)

    def wait_caught_up(self, i, timeout):
        """Waits until node i applied what the others had applied when space returned."""
        start = time.monotonic()
        others = [self.c.figure(j, "keel_raft_applied_index") for j in self.c.ids() if j != i and self.c.alive(j)]
        target = max([x for x in others if x is not None], default=0)
        applied = None
        while time.monotonic() - start < timeout:
            applied = self.c.figure(i, "keel_raft_applied_index")
            stalled = self.c.figure(i, "keel_storage_stalled")
            if applied is not None and applied >= target and stalled == 0:
                return f"caught up to applied {applied:.0f} in {time.monotonic() - start:.1f}s"
            time.sleep(0.2)
        self.disk_full_lagging.append(i)
        return f"did NOT catch up within {timeout:.0f}s (applied {applied}, others {target:.0f})"

    def revive_unexpected(self):
        """Every fault restarts what it stopped: a node down between faults died on its own."""
        for i in self.c.ids():
            if not self.c.alive(i):
                code = self.c.procs[i].wait()
                self.unexpected_exits.append((i, code))
                self.log(f"node {i} died on its own (exit {code}); restarting")
                self.restart(i)

    def heal_all(self):
        """Ends every fault: network, delays, pauses, full disks; restarts nodes that are down."""
        self.heal_network()
        for (i, j) in self.c.relay_ports:
            self.c.relay_command(f"delay {i} {j} 0")
        for i in self.c.ids():
            self.c.resume(i)
            filler = os.path.join(self.c.data_dir(i), "chaos-filler")
            if os.path.exists(filler):
                os.remove(filler)
        self.revive_unexpected()
        self.log("healed everything")
