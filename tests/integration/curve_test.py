"""CURVE on both ports of real keel processes: a node whose key is not on --peer-keys cannot
join or send Raft messages, a member's key cannot speak for another member, clients without an
allowed key, with the wrong server key or in plaintext get nothing, every refusal is logged,
and the cluster keeps serving through all of it."""
import os
import subprocess
import time
import unittest

import keelcluster
from keelcluster import Cluster, Session, wait_until


def read_file(path):
    with open(path) as f:
        return f.read()


class CurveTest(unittest.TestCase):
    def refused_everywhere(self, c, text):
        return all(text in read_file(c.log_path(n)) for n in c.ids())

    def test_strangers_get_nothing_and_the_cluster_keeps_serving(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            term = c.status(leader).term
            session = Session(c, c.ids())
            self.assertEqual(session.put("it/curve/k", b"1").code, c.kv_pb2.CODE_OK)

            # A rogue node: a fresh key, not on the members' --peer-keys, campaigning as node 4.
            rogue_public, _ = c.keygen("rogue")
            rogue_peers = os.path.join(c.dir, "keys", "rogue-peers.keys")
            with open(rogue_peers, "w") as f:
                f.write(read_file(c.key_path("peers", "keys")))
                f.write(f"4={rogue_public.decode()}\n")
            raft4, client4 = keelcluster.free_ports(2)
            rogue = c.start(4, argv=[
                keelcluster.bin_path("keel"), "--id=4", f"--cluster-id={c.cluster_id}",
                f"--data-dir={c.dir}/rogue", f"--peers={c.peers_flag()},4=127.0.0.1:{raft4}",
                f"--client-addr=127.0.0.1:{client4}", "--tick-ms=20", "--election-ticks=5", "--bootstrap",
                f"--key-file={c.key_path('rogue')}", f"--peer-keys={rogue_peers}",
                f"--client-keys={c.key_path('clients', 'keys')}"])
            wait_until("every member to refuse the rogue's key",
                       lambda: self.refused_everywhere(c, f"key not in --peer-keys: {rogue_public.decode()}"), 10)
            self.assertIsNone(rogue.poll(), "the rogue runs (and keeps trying)")

            # A member's key speaking for another member: dropped, counted. Were it accepted, a
            # heartbeat of a higher term would depose the leader.
            from engine import peer_pb2
            speaker, claimed = [n for n in c.ids() if n != leader]
            forged = peer_pb2.Envelope(cluster_id=c.cluster_id, to=leader)
            setattr(forged, "from", claimed)
            forged.raft.type = 7  # heartbeat
            forged.raft.term = term + 1000
            forged.raft.to = leader
            setattr(forged.raft, "from", claimed)
            s = c.ctx.socket(c.zmq.DEALER)
            s.setsockopt(c.zmq.LINGER, 2000)
            s.curve_publickey, s.curve_secretkey = c.node_keys[speaker]
            s.curve_serverkey = c.node_keys[leader][0]
            s.connect(f"tcp://127.0.0.1:{c.raft_ports[leader]}")
            s.send(forged.SerializeToString())
            s.close()
            wait_until("the impersonation to be logged",
                       lambda: "impersonation=1" in read_file(c.log_path(leader)), 15)

            # Clients: an unknown key, the wrong server key, plaintext. Nobody answers them.
            request = c.client_pb2.Request()
            request.command.kv_get.key = "it/curve/k"
            stranger = c.zmq.curve_keypair()
            self.assertIsNone(c.call(leader, request, wait=1.5, client_key=stranger))
            wait_until("the unknown client key to be refused",
                       lambda: f"key not in --client-keys: {stranger[0].decode()}" in read_file(c.log_path(leader)), 5)
            wrong_server = c.zmq.curve_keypair()
            s = c.ctx.socket(c.zmq.DEALER)
            s.setsockopt(c.zmq.LINGER, 0)
            s.curve_publickey, s.curve_secretkey = c.client_key
            s.curve_serverkey = wrong_server[0]
            s.connect(f"tcp://127.0.0.1:{c.client_ports[leader]}")
            s.send(request.SerializeToString())
            self.assertEqual(s.poll(1500), 0, "a client with the wrong server key gets nothing")
            s.close()
            self.assertIsNone(c.call(leader, request, wait=1.5, curve=False), "plaintext gets nothing")
            wait_until("the failed handshakes to be logged",
                       lambda: "a client connection: CURVE handshake failed" in read_file(c.log_path(leader)), 5)

            # Through all of it: same leader, same term, and writes and reads go through.
            self.assertEqual(session.put("it/curve/k", b"2").code, c.kv_pb2.CODE_OK)
            self.assertEqual(session.get("it/curve/k").value, b"2")
            status = c.status(leader)
            self.assertEqual((status.role, status.term), ("leader", term), "the rogue moved nothing")
            for node in c.ids():
                self.assertIsNone(c.procs[node].poll(), f"node {node} exited")
            rogue_log = read_file(c.log_path(4))
            self.assertNotIn("role=leader", rogue_log, rogue_log[-2000:])

    def test_key_flags_are_checked_at_start(self):
        c = Cluster(nodes=3)  # keys and flags only: no node started
        try:
            base = c.command(1, bootstrap=True)
            run = lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=10)
            no_keys = [a for a in base if not a.startswith(("--key-file", "--peer-keys", "--client-keys"))]
            proc = run(no_keys)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("--insecure", proc.stderr)
            # Node 1 started with node 2's key pair: its key is not its entry in --peer-keys.
            proc = run([a if not a.startswith("--key-file") else f"--key-file={c.key_path('n2')}" for a in base])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("not node 1's entry", proc.stderr)
            # A damaged key list names the file and line.
            bad = os.path.join(c.dir, "keys", "bad.keys")
            with open(bad, "w") as f:
                f.write("# members\n1=short\n")
            proc = run([a if not a.startswith("--peer-keys") else f"--peer-keys={bad}" for a in base])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("bad.keys:2", proc.stderr)
            # Keys and --insecure together: which one was meant?
            proc = run(base + ["--insecure"])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            # --insecure alone serves, and says so.
            c.start(1, argv=no_keys + ["--insecure"])
            wait_until("the plaintext warning", lambda: "PLAINTEXT" in read_file(c.log_path(1)), 10)
            self.assertIn("--insecure: both ports serve plaintext", read_file(c.log_path(1)))
        finally:
            c.close()


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
