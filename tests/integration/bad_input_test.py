"""Bad input against real keel processes: random bytes, truncated protobuf, a 64 MiB frame and
a wrong cluster id on both ports leave the node up and serving; bad flags, an occupied port, a
foreign data dir and a corrupt WAL give clear errors and a non-zero exit."""
import os
import random
import subprocess
import time
import unittest

import keelcluster
from keelcluster import Cluster, Session, wait_until



def read_file(path):
    with open(path) as f:
        return f.read()


class BadInputTest(unittest.TestCase):
    def send_raw(self, c, port, frames, expect_answer=False, key=None, server=None):
        """Sends raw frames to `port`, authenticated with the CURVE key pair `key` against
        node `server`'s key: bad input from someone who may connect."""
        s = c.ctx.socket(c.zmq.DEALER)
        # Linger: close() must not discard frames still queued for a connection in progress.
        s.setsockopt(c.zmq.LINGER, 2000)
        s.curve_publickey, s.curve_secretkey = key
        s.curve_serverkey = c.node_keys[server][0]
        s.connect(f"tcp://127.0.0.1:{port}")
        for frame in frames:
            s.send(frame)
        answers = []
        if expect_answer:
            while s.poll(1000):
                answers.append(s.recv())
        s.close()
        return answers

    def test_garbage_on_both_ports_leaves_the_cluster_serving(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            session = Session(c, c.ids())
            self.assertEqual(session.put("it/bad/before", b"1").code, c.kv_pb2.CODE_OK)
            # A client of another cluster is refused, not served.
            wrong = c.client_pb2.Request(cluster_id=999)
            wrong.command.kv_get.key = "it/bad/before"
            response = c.call(leader, wrong)
            self.assertEqual(response.code, c.node_pb2.CODE_WRONG_CLUSTER)
            # A peer of another cluster: a well-formed envelope with the wrong cluster id.
            from engine import peer_pb2
            envelope = peer_pb2.Envelope(cluster_id=999, to=leader)
            # Sent with the key of the member it claims to be (a member's key may only speak
            # for that member), so that the cluster id check is what stops it.
            impostor = 2 if leader != 2 else 1
            setattr(envelope, "from", impostor)
            envelope.raft.type = 7  # heartbeat
            envelope.raft.term = 10**6
            envelope.raft.to = leader
            setattr(envelope.raft, "from", getattr(envelope, "from"))
            self.send_raw(c, c.raft_ports[leader], [envelope.SerializeToString()], key=c.node_keys[impostor],
                          server=leader)
            # First of its kind on this node: logged at once (then at most every 10 s).
            wait_until("the wrong-cluster drop to be logged",
                       lambda: "wrong_cluster=1 " in read_file(c.log_path(leader)), 5)
            rng = random.Random(42)
            good = c.client_pb2.Request(id=77)
            good.command.kv_get.key = "it/bad/before"
            frames = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(200)]
            frames.append(good.SerializeToString()[:-3])  # truncated
            frames.append(b"")
            for node in c.ids():
                answers = self.send_raw(c, c.client_ports[node], frames, expect_answer=True, key=c.client_key,
                                        server=node)
                self.assertGreater(len(answers), 0, "garbage on the client port gets INVALID_ARGUMENT answers")
                other = 1 if node != 1 else 2
                self.send_raw(c, c.raft_ports[node], frames, key=c.node_keys[other], server=node)
            # 64 MiB frames: ZeroMQ refuses them (max frame 32 MiB) and drops that connection.
            huge = b"\0" * (64 << 20)
            self.send_raw(c, c.client_ports[leader], [huge], key=c.client_key, server=leader)
            self.send_raw(c, c.raft_ports[leader], [huge], key=c.node_keys[impostor], server=leader)
            # Everyone is still up, the leader kept its term, and writes go through.
            for node in c.ids():
                self.assertIsNone(c.procs[node].poll(), f"node {node} exited")
            self.assertEqual(session.put("it/bad/after", b"2").code, c.kv_pb2.CODE_OK)
            self.assertLess(c.status(leader).term, 10**6, "a foreign heartbeat must not move the term")

    def run_keel(self, c, args, timeout=10):
        proc = subprocess.run([keelcluster.bin_path("keel")] + args, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    def test_bad_flags_and_foreign_data_give_clear_errors(self):
        with Cluster(nodes=3) as c:
            c.wait_leader()
            base = c.command(1, bootstrap=False)[1:]
            code, out = self.run_keel(c, ["--id=abc"] + base[1:])
            self.assertNotEqual(code, 0)
            self.assertIn("id", out)
            code, out = self.run_keel(c, [a for a in base if not a.startswith("--peers")])
            self.assertEqual(code, 2, out)
            self.assertIn("--peers", out)
            # Planted bugs exist only in keel-planted (tests/chaos/): production keel has no such flag.
            code, out = self.run_keel(c, ["--planted-bug=stale-reads"] + base)
            self.assertNotEqual(code, 0, out)
            self.assertIn("planted", out)
            # Node 1 is running: its data dir is locked, its ports are taken.
            code, out = self.run_keel(c, base)
            self.assertEqual(code, 2, out)
            self.assertIn("in use", out)
            # Another node's data dir.
            other = [a if not a.startswith("--data-dir") else f"--data-dir={c.data_dir(2)}" for a in base]
            c.kill(2)
            code, out = self.run_keel(c, other)
            self.assertEqual(code, 2, out)
            self.assertIn("belongs to node 2", out)
            # Another cluster's id on node 2's own data dir.
            mine = c.command(2, bootstrap=False)[1:]
            code, out = self.run_keel(c, [a if not a.startswith("--cluster-id") else "--cluster-id=8" for a in mine])
            self.assertEqual(code, 2, out)
            self.assertIn("of cluster 7", out)
            # An empty data dir without --bootstrap.
            empty = [a if not a.startswith("--data-dir") else f"--data-dir={c.dir}/empty" for a in mine]
            code, out = self.run_keel(c, empty)
            self.assertEqual(code, 2, out)
            self.assertIn("--bootstrap", out)
            # An occupied client port (node 3's).
            busy = [a if not a.startswith("--client-addr") else f"--client-addr=127.0.0.1:{c.client_ports[3]}"
                    for a in mine]
            code, out = self.run_keel(c, busy)
            self.assertEqual(code, 2, out)
            self.assertIn(str(c.client_ports[3]), out)

    def test_a_flagfile_configures_a_node(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            session = Session(c, c.ids())
            self.assertEqual(session.put("it/flags/k", b"before").code, c.kv_pb2.CODE_OK)
            victim = next(n for n in c.ids() if n != leader)
            c.kill(victim)
            # abseil's --flagfile: one flag per line, names with '_'.
            path = os.path.join(c.dir, f"n{victim}.flags")
            with open(path, "w") as f:
                for arg in c.command(victim, bootstrap=False)[1:]:
                    name, value = arg[2:].split("=", 1)
                    f.write(f"--{name.replace('-', '_')}={value}\n")
            c.start(victim, argv=[keelcluster.bin_path("keel"), f"--flagfile={path}"])
            target = c.status(leader).commit
            wait_until("the node started from a flagfile to catch up",
                       lambda: (c.status(victim) is not None and c.status(victim).applied >= target), 10)
            self.assertEqual(c.status(victim).id, victim)

    def test_corrupt_wal_is_refused_naming_file_and_offset(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            session = Session(c, c.ids())
            for i in range(20):
                session.put(f"it/wal/k{i}", b"v" * 100)
            victim = next(n for n in c.ids() if n != leader)
            c.kill(victim)
            wal = os.path.join(c.data_dir(victim), "wal")
            segment = os.path.join(wal, sorted(os.listdir(wal))[0])
            size = os.path.getsize(segment)
            with open(segment, "r+b") as f:
                f.seek(size // 2)
                byte = f.read(1)
                f.seek(size // 2)
                f.write(bytes([byte[0] ^ 0x40]))
            code, out = self.run_keel(c, c.command(victim, bootstrap=False)[1:])
            self.assertEqual(code, 2, out)
            self.assertIn("DATA_LOSS", out)
            self.assertIn(os.path.basename(segment), out)
            self.assertIn("offset", out)
            # The other two carry on.
            self.assertEqual(session.put("it/wal/after", b"ok").code, c.kv_pb2.CODE_OK)


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
