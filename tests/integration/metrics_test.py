"""The HTTP port of real keel processes: /metrics parses as Prometheus text (promtool too, if
installed) and its values move as the cluster works (commit after writes, term and leader
changes after a failover, refusals after a stranger knocks); /healthz and /readyz answer 200
on a serving node and /readyz 503 with the reason on a node cut off from its leader."""
import json
import os
import shutil
import signal
import subprocess
import unittest

import keelcluster
from keelcluster import Cluster, Session, metric, parse_prometheus, wait_until


class MetricsTest(unittest.TestCase):
    def test_parser_rejects_malformed_text(self):
        # The checker must be able to fail: each of these is malformed.
        for bad in ["x 1\n",  # no TYPE
                    "# TYPE x gauge\nx{a=\"1} 2\n",  # broken label
                    "# TYPE x counter\nx -1\n",  # negative counter
                    "# TYPE x gauge\n# TYPE x gauge\nx 1\n",  # declared twice
                    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n",
                    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 0\n"]:
            with self.assertRaises(ValueError, msg=bad):
                parse_prometheus(bad)

    def test_metrics_move_and_health_answers(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            wait_until("every node's metrics", lambda: all(c.metrics(n) for n in c.ids()), 10)
            status, body = c.http_get(leader, "/metrics")
            self.assertEqual(status, 200)
            if shutil.which("promtool"):
                check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
                self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            # Snapshots are published every 100 ms: the election may not be in the first one.
            before = wait_until("the leader's metrics to show it leads",
                                lambda: (lambda m: m if metric(m, "raft_leader_status") == 1 else None)(
                                    c.metrics(leader)), 5)
            self.assertEqual(metric(before, "keel_raft_role", role="leader"), 1)
            self.assertEqual(metric(before, "keel_node_id"), leader)
            for node in c.ids():
                self.assertEqual(c.http_get(node, "/healthz"), (200, "ok\n"))
                wait_until(f"node {node} ready", lambda: c.http_get(node, "/readyz")[0] == 200, 10)

            # Writes move commit, the request counters, the fsync and apply histograms, the pools.
            session = Session(c, c.ids())
            created = session.mutate(lambda cmd: (setattr(cmd.pool_create, "pool", "m/pool"),
                                                  setattr(cmd.pool_create, "capacity", 7)))
            self.assertEqual(created.code, c.kv_pb2.CODE_OK, created)
            for i in range(20):
                self.assertEqual(session.put(f"m/kv/k{i}", b"v").code, c.kv_pb2.CODE_OK)
            # Metrics are published every 100 ms: wait for a snapshot taken after all 22 entries
            # (session, pool, 20 puts) were applied, not one from before the last put.
            after = wait_until("commit to move in the metrics",
                               lambda: (lambda m: m if metric(m, "keel_raft_commit_index") >= metric(
                                   before, "keel_raft_commit_index") + 22 else None)(c.metrics(leader)), 5)
            self.assertGreater(metric(after, "keel_fsync_duration_seconds_count"),
                               metric(before, "keel_fsync_duration_seconds_count"))
            self.assertGreater(metric(after, "keel_apply_duration_seconds_count"),
                               metric(before, "keel_apply_duration_seconds_count"))
            self.assertGreaterEqual(metric(after, "keel_proposals_total"), 21)
            self.assertEqual(metric(after, "keel_pools"), 1)
            self.assertEqual(metric(after, "keel_pool_slots_capacity"), 7)
            self.assertEqual(metric(after, "keel_kv_keys"), 20)
            self.assertGreater(metric(after, "keel_wal_bytes"), 0)
            answered = sum(v for (name, labels), v in after.items()
                           if name == "keel_client_requests_total" and ("kind", "kv_put") in labels)
            self.assertGreater(answered, 0, "kv_put answers are counted by kind (on whichever node took them)")
            follower = next(n for n in c.ids() if n != leader)
            fm = c.metrics(follower)
            self.assertLess(metric(fm, "raft_last_contact_seconds"), c.election_timeout())
            self.assertEqual(metric(fm, "raft_leader_status"), 0)
            self.assertIsNotNone(metric(after, "keel_peer_match_lag_entries", peer=follower))

            # A stranger's key on the client port is refused and counted.
            request = c.client_pb2.Request()
            request.status.SetInParent()
            self.assertIsNone(c.call(leader, request, wait=1.0, client_key=c.zmq.curve_keypair()))
            wait_until("the refusal to be counted", lambda: metric(
                c.metrics(leader), "keel_auth_refused_total", port="client", reason="key_not_allowed") >= 1, 5)
            # And a stranger on the raft port (a would-be peer whose key is not on --peer-keys).
            s = c.ctx.socket(c.zmq.DEALER)
            s.setsockopt(c.zmq.LINGER, 0)
            s.curve_publickey, s.curve_secretkey = c.zmq.curve_keypair()
            s.curve_serverkey = c.node_keys[leader][0]
            s.connect(f"tcp://127.0.0.1:{c.raft_ports[leader]}")
            s.send(b"hello")
            try:
                wait_until("the peer refusal to be counted", lambda: metric(
                    c.metrics(leader), "keel_auth_refused_total", port="raft", reason="key_not_allowed") >= 1, 5)
            finally:
                s.close()

            # Failover: the term moves and the survivors count a leader change.
            term = metric(after, "keel_raft_term")
            c.kill(leader)
            survivors = [n for n in c.ids() if n != leader]
            new_leader = c.wait_leader(survivors, timeout=15)
            wait_until("the new term and leader change in the metrics", lambda: (
                metric(c.metrics(new_leader), "keel_raft_term") > term and
                metric(c.metrics(new_leader), "keel_raft_leader_changes_total") >= 1), 5)

            # A follower cut off from the leader (the leader paused) is healthy but not ready.
            other = next(n for n in survivors if n != new_leader)
            c.procs[new_leader].send_signal(signal.SIGSTOP)
            try:
                wait_until("the cut-off follower to say it is not ready", lambda: c.http_get(other, "/readyz")[0] == 503,
                           10)
                status, why = c.http_get(other, "/readyz")
                self.assertTrue("not heard from" in why or "no leader" in why, why)
                self.assertEqual(c.http_get(other, "/healthz")[0], 200)
            finally:
                c.procs[new_leader].send_signal(signal.SIGCONT)

    def test_json_logs_are_one_object_per_line(self):
        with Cluster(nodes=3, flags={"log-format": "json"}) as c:
            leader = c.wait_leader()
            request = c.client_pb2.Request()
            request.status.SetInParent()
            self.assertIsNone(c.call(leader, request, wait=1.0, curve=False))  # a refusal to log
            wait_until("the refusal in the JSON log", lambda: '"event":"refused"' in open(c.log_path(leader)).read(), 5)
            c.kill(leader, signal.SIGTERM)
            events = []
            with open(c.log_path(leader)) as f:
                for line in f:
                    entry = json.loads(line)  # every line is one JSON object
                    self.assertEqual(set(entry), {"time", "level", "node", "event", "msg"}, line)
                    self.assertEqual(entry["node"], leader)
                    events.append(entry["event"])
            for event in ("serving", "role_change", "refused", "stopping", "stopped"):
                self.assertIn(event, events)
            proc = subprocess.run(c.command(1, False, **{"log-format": "xml"}), capture_output=True, text=True,
                                  timeout=10)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("--log-format must be text or json", proc.stderr)

    def test_metrics_port_in_use_is_refused_at_start(self):
        c = Cluster(nodes=3)
        try:
            argv = c.command(1, bootstrap=True, **{"metrics-addr": f"127.0.0.1:{c.client_ports[2]}"})
            import socket
            blocker = socket.socket()
            blocker.bind(("127.0.0.1", c.client_ports[2]))
            blocker.listen(1)
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            finally:
                blocker.close()
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("metrics address", proc.stderr)
        finally:
            c.close()


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
