"""Membership changes on real keel processes, while a client keeps writing: add a fourth node
as a learner (its address and CURVE key reach the members only through the configuration),
start it from the cluster's initial voters, promote it once it caught up, remove the leader;
nothing acknowledged is lost. Then a member restarted with its old flags (which do not know
node 4) still reaches node 4, and keelctl refuses what it must (a removed id, a change while
another is in flight is covered by the engine's tests)."""
import subprocess
import threading
import time
import unittest

import keelcluster
from keelcluster import Cluster, Session, wait_until


class Writer(threading.Thread):
    """Puts wm/kv/k0, k1, ... until stopped; remembers every acknowledged write."""

    def __init__(self, cluster, nodes):
        super().__init__(daemon=True)
        self.session = Session(cluster, nodes, timeout=20.0)
        self.acked = {}
        self.errors = []
        self.stop = threading.Event()
        self.ok = cluster.kv_pb2.CODE_OK

    def run(self):
        i = 0
        while not self.stop.is_set():
            key, value = f"wm/kv/k{i}", f"v{i}".encode()
            try:
                result = self.session.put(key, value)
            except AssertionError as e:  # no answer within the session's timeout
                self.errors.append(str(e)[:200])
                return
            if result.code == self.ok:
                self.acked[key] = value
            i += 1


class MembershipTest(unittest.TestCase):
    def ctl(self, c, *args, nodes=None):
        eps = ",".join(f"127.0.0.1:{c.client_ports[n]}" for n in (nodes or c.all_ids()))
        proc = subprocess.run([keelcluster.bin_path("keelctl"), "--endpoints", eps, "--timeout", "5",
                               *c.client_flags(), *args], capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr

    def wait_ctl_ok(self, c, *args, timeout=20.0):
        """Runs a member change until the cluster accepts it (a learner may lag at first)."""
        last = []

        def attempt():
            code, out, err = self.ctl(c, *args)
            last[:] = [code, out, err]
            return code == 0
        try:
            wait_until(" ".join(args), attempt, timeout)
        except AssertionError:
            self.fail(f"keelctl {' '.join(args)}: {last}")
        return last[1]

    def test_add_promote_remove_while_writing(self):
        with Cluster(nodes=3, spare=1) as c:
            first_leader = c.wait_leader()
            writer = Writer(c, [1, 2, 3])
            writer.start()
            self.addCleanup(writer.stop.set)  # a failed test must not leave it using the cluster
            wait_until("some writes", lambda: len(writer.acked) >= 20, 20)

            out = self.wait_ctl_ok(c, "member", "add-learner", "4", "--raft-addr", f"127.0.0.1:{c.raft_ports[4]}",
                                   "--public-key-file", c.key_path("n4", "pub"))
            self.assertIn("learners=4", out)
            self.assertIn("--initial-voters 1,2,3", out, "the printed start command")
            # Node 4 starts empty from the cluster's initial voters; it knows every key.
            c.start(4, argv=c.command(4, True, **{"peers": c.peers_flag(c.all_ids()), "initial-voters": "1,2,3",
                                                 "peer-keys": c.key_path("peers-all", "keys")}))

            def caught_up():
                leader, learner = c.status(c.leader([1, 2, 3]) or 1), c.status(4)
                return leader is not None and learner is not None and learner.applied + 5 >= leader.commit > 0
            wait_until("node 4 caught up", caught_up, 20)
            out = self.wait_ctl_ok(c, "member", "promote", "4")
            self.assertIn("voters=1,2,3,4", out)

            leader = c.wait_leader([1, 2, 3, 4])
            out = self.wait_ctl_ok(c, "member", "remove", str(leader))
            survivors = [n for n in c.all_ids() if n != leader]
            self.assertIn("voters=" + ",".join(map(str, survivors)), out)
            writer.session.nodes = survivors
            new_leader = c.wait_leader(survivors, timeout=10)
            self.assertNotEqual(new_leader, leader, "a removed leader steps down")
            c.kill(leader)  # the operator stops the removed node

            wait_until("writes after the removal", lambda: len(writer.acked) >= 60, 30)
            writer.stop.set()
            writer.join(30)
            self.assertEqual(writer.errors, [])

            code, out, err = self.ctl(c, "member", "list", nodes=survivors)
            self.assertEqual(code, 0, err)
            self.assertIn(f"removed ids (never reused): {leader}", out)
            self.assertIn(f"127.0.0.1:{c.raft_ports[4]}", out, "node 4's address from the configuration")
            code, _, err = self.ctl(c, "member", "add-learner", str(leader), "--raft-addr", "127.0.0.1:1",
                                    nodes=survivors)
            self.assertEqual(code, 1, "a removed id is refused")
            self.assertIn("never reused", err)

            # A member restarted with its original flags (no node 4 in --peers or --peer-keys)
            # learns node 4's address and key from its log: with the third survivor down, the
            # cluster commits only if that member and node 4 reach each other.
            old = [n for n in survivors if n != 4]
            c.kill(old[0])
            c.start(old[0])
            c.kill(old[1])
            reader = Session(c, [old[0], 4], timeout=20.0)
            self.assertEqual(reader.put("wm/kv/after-restart", b"x").code, c.kv_pb2.CODE_OK)
            for key, value in writer.acked.items():
                result = reader.get(key)
                self.assertEqual((result.code, result.value), (c.kv_pb2.CODE_OK, value), key)
            print(f"membership: leader {first_leader} -> removed {leader}, new leader {new_leader}; "
                  f"{len(writer.acked)} acknowledged writes, all present")


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
