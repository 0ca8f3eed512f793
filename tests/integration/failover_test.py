"""Real keel processes: elect, write, SIGKILL the leader, a new leader within two election
timeouts, no acknowledged write lost, restart and catch-up; a wiped node rejoins by snapshot;
a follower answers through the leader; a request during an election never hangs."""
import time
import unittest

import keelcluster
from keelcluster import Cluster, Session, wait_until




class FailoverTest(unittest.TestCase):
    def test_leader_killed_nothing_acknowledged_lost_and_restart_catches_up(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            session = Session(c, c.ids())
            acked = {}
            for i in range(30):
                result = session.put(f"it/kv/k{i}", f"v{i}".encode())
                self.assertEqual(result.code, c.kv_pb2.CODE_OK)
                acked[f"it/kv/k{i}"] = f"v{i}".encode()
            killed_at = time.monotonic()
            c.kill(leader)
            survivors = [n for n in c.ids() if n != leader]
            new_leader = c.wait_leader(survivors, timeout=10)
            failover = time.monotonic() - killed_at
            print(f"failover: new leader {new_leader} after {failover * 1000:.0f} ms "
                  f"(election timeout {c.election_timeout() * 1000:.0f} ms)")
            self.assertNotEqual(new_leader, leader)
            # Two election timeouts, plus the randomised part of one and the status polls.
            self.assertLess(failover, 3 * c.election_timeout() + 1.0)
            session.nodes = survivors
            for i in range(30, 40):
                self.assertEqual(session.put(f"it/kv/k{i}", f"v{i}".encode()).code, c.kv_pb2.CODE_OK)
                acked[f"it/kv/k{i}"] = f"v{i}".encode()
            for key, value in acked.items():
                result = session.get(key)
                self.assertEqual(result.code, c.kv_pb2.CODE_OK, key)
                self.assertEqual(result.value, value, key)
            # The old leader restarts from its disk and catches up.
            c.start(leader)
            target = c.status(new_leader).commit
            wait_until("the restarted node to catch up",
                       lambda: (c.status(leader) or c.status(leader)) and c.status(leader).applied >= target, 15)

    def test_wiped_node_rejoins_by_snapshot(self):
        with Cluster(nodes=3, snapshot_every=20) as c:
            leader = c.wait_leader()
            session = Session(c, [leader])
            for i in range(80):
                session.put(f"it/snap/k{i}", b"x" * 50)
            victim = next(n for n in c.ids() if n != leader)
            c.kill(victim)
            import shutil
            shutil.rmtree(c.data_dir(victim))
            for i in range(80, 120):
                session.put(f"it/snap/k{i}", b"y" * 50)
            self.assertGreater(c.status(leader).first_index, 1, "the leader must have compacted its log")
            c.start(victim, bootstrap=True)
            target = c.status(leader).commit
            wait_until("the wiped node to catch up by snapshot",
                       lambda: (c.status(victim) is not None and c.status(victim).applied >= target), 20)
            # It serves what it got: a stale read from its own state sees the last write.
            request = c.client_pb2.Request()
            request.read_mode = c.node_pb2.READ_STALE
            request.command.kv_get.key = "it/snap/k119"
            response = c.call(victim, request)
            self.assertEqual(response.code, c.node_pb2.CODE_OK)
            self.assertEqual(response.result.value, b"y" * 50)
            self.assertEqual(response.served_by, victim)

    def test_follower_answers_through_the_leader(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            follower = next(n for n in c.ids() if n != leader)
            session = Session(c, [follower])
            self.assertEqual(session.put("it/proxy/k", b"via-follower").code, c.kv_pb2.CODE_OK)
            request = c.client_pb2.Request()
            request.command.kv_get.key = "it/proxy/k"
            response = c.call(follower, request)
            self.assertEqual(response.code, c.node_pb2.CODE_OK)
            self.assertEqual(response.served_by, leader, "a linearizable read is decided by the leader")
            self.assertEqual(response.result.value, b"via-follower")

    def test_requests_during_an_election_never_hang(self):
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            survivors = [n for n in c.ids() if n != leader]
            c.kill(leader)
            # Right after the kill nobody knows the leader is gone: requests must still
            # end before their deadline, answered or refused with a typed code.
            codes = []
            for i in range(10):
                request = c.client_pb2.Request()
                request.timeout_nanos = int(0.4e9)
                request.command.kv_get.key = "it/elect/k"
                started = time.monotonic()
                response = c.call(survivors[i % 2], request, wait=2.0)
                self.assertIsNotNone(response, "no answer within 2 s to a request with a 0.4 s deadline")
                self.assertLess(time.monotonic() - started, 1.5)
                self.assertIn(response.code, (c.node_pb2.CODE_OK, c.node_pb2.CODE_UNAVAILABLE,
                                              c.node_pb2.CODE_DEADLINE_EXCEEDED))
                codes.append(c.node_pb2.Code.Name(response.code))
            print("answers during the election:", codes)
            c.wait_leader(survivors)


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
