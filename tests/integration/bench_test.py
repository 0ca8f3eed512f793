"""keel-bench against real keel processes: both drivers (the pipelined client, every request
on one socket, and a thread with a blocking Client per client) run every operation kind with
no error, leader-only and spread over followers; afterwards no pool slot is left held, so no
acquire was applied twice and no release lost."""
import json
import subprocess
import time
import unittest

import keelcluster
from keelcluster import Cluster, Session


def c_ok(session):
    return session.c.kv_pb2.CODE_OK


class BenchTest(unittest.TestCase):
    def bench(self, c, driver, *extra):
        endpoints = ",".join(f"127.0.0.1:{c.client_ports[n]}" for n in c.ids())
        cmd = [keelcluster.bin_path("keel-bench"), "--endpoints", endpoints, "--clients", "16",
               "--mix", "put=40,get=30,acquire=20,next=10", "--keys", "300", "--seconds", "1",
               "--warmup-seconds", "0.3", "--json", "--driver", driver, *extra, *c.client_flags()]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{driver} {' '.join(extra)}: {row['ops_per_sec']:.0f} ops/s p50 {row['p50_ms']} ms "
              f"attempts {row['attempts']}")
        self.assertEqual(row["driver"], driver)
        self.assertEqual(row["errors"], 0, out.stderr)
        self.assertGreater(row["ops"], 50)
        self.assertEqual(row["mode"], "put=40,get=30,acquire=20,next=10")
        return row

    def pool_busy(self, session):
        def fill(command):
            command.pool_stats.pool = "bench/pool"
        result = session.read(fill)
        self.assertEqual(result.code, c_ok(session), result)
        return result.pool.busy

    def test_both_drivers_every_operation_no_error_no_slot_left(self):
        with Cluster(nodes=3) as c:
            c.wait_leader()
            for driver in ("pipeline", "threads"):
                self.bench(c, driver)
                self.bench(c, driver, "--spread")
            self.assertEqual(self.pool_busy(Session(c, c.ids())), 0)

    def test_pipeline_through_a_leader_kill_every_command_applied_once(self):
        """Every acquire and release retried across the failover keeps its (session, sequence):
        none fails, and none is applied twice (a twice-applied acquire would leave a slot held)."""
        with Cluster(nodes=3) as c:
            leader = c.wait_leader()
            endpoints = ",".join(f"127.0.0.1:{c.client_ports[n]}" for n in c.ids())
            cmd = [keelcluster.bin_path("keel-bench"), "--endpoints", endpoints, "--follow-leader",
                   "--clients", "16", "--mix", "acquire=100", "--seconds", "5", "--warmup-seconds", "0.5",
                   "--json", "--driver", "pipeline", *c.client_flags()]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(2.5)
                c.kill(leader)
                out, err = proc.communicate(timeout=90)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            self.assertEqual(proc.returncode, 0, err)
            row = json.loads(out.strip().splitlines()[-1])
            print(f"through a leader kill: {row['ops']} pairs, p99 {row['p99_ms']} ms, "
                  f"attempts {row['attempts']}, errors {row['errors']}")
            self.assertEqual(row["routing"], "follow")
            self.assertEqual(row["errors"], 0, err)
            self.assertGreater(row["ops"], 100)
            # The answers stalled for the failover: someone waited at least an election timeout.
            self.assertGreater(row["p999_ms"], c.election_timeout() * 1000)
            survivors = [n for n in c.ids() if n != leader]
            self.assertEqual(self.pool_busy(Session(c, survivors)), 0)

    def test_bad_driver_is_a_usage_error(self):
        out = subprocess.run([keelcluster.bin_path("keel-bench"), "--driver", "fibers"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--driver", out.stderr)


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
