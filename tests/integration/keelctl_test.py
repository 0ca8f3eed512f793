"""keelctl against a real cluster: every subcommand family works through any node, and the
documented exit codes hold (0 ok, 1 application-level failure, 2 usage, 3 unavailable,
4 outcome unknown, 5 other errors)."""
import json
import os
import subprocess
import unittest

import keelcluster
from keelcluster import Cluster


class KeelctlTest(unittest.TestCase):
    def ctl(self, c, *args, endpoints=None, timeout=10, auth=None):
        eps = endpoints or ",".join(f"127.0.0.1:{c.client_ports[n]}" for n in c.ids())
        auth = c.client_flags() if auth is None else auth
        proc = subprocess.run([keelcluster.bin_path("keelctl"), "--endpoints", eps, "--timeout", "5", *auth, *args],
                              capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def test_commands_and_exit_codes(self):
        with Cluster(nodes=3) as c:
            c.wait_leader()
            code, out, err = self.ctl(c, "put", "ctl/kv/a", "hello")
            self.assertEqual(code, 0, err)
            code, out, _ = self.ctl(c, "get", "ctl/kv/a")
            self.assertEqual((code, out.strip()), (0, "hello"))
            code, out, _ = self.ctl(c, "get", "ctl/kv/missing")
            self.assertEqual(code, 1, "NOT_FOUND is an application-level failure")
            code, out, _ = self.ctl(c, "--output", "json", "get", "ctl/kv/a")
            self.assertEqual(code, 0)
            version = int(json.loads(out)["version"])
            code, _, _ = self.ctl(c, "cas", "ctl/kv/a", str(version + 100), "x")
            self.assertEqual(code, 1, "a version mismatch is a conflict")
            code, _, _ = self.ctl(c, "cas", "ctl/kv/a", str(version), "world")
            self.assertEqual(code, 0)

            self.assertEqual(self.ctl(c, "pool", "create", "ctl/pool", "1")[0], 0)
            code, out, _ = self.ctl(c, "pool", "acquire", "ctl/pool", "p1")
            self.assertEqual((code, out.strip()), (0, "0"))
            code, _, _ = self.ctl(c, "pool", "acquire", "ctl/pool", "p2")
            self.assertEqual(code, 1, "EXHAUSTED")
            code, out, _ = self.ctl(c, "--output", "json", "pool", "stats", "ctl/pool")
            self.assertEqual(int(json.loads(out)["pool"]["busy"]), 1)

            self.assertEqual(self.ctl(c, "lb", "create", "ctl", "--policy", "round-robin")[0], 0)
            for backend in ("b1", "b2"):
                self.assertEqual(self.ctl(c, "lb", "add", "ctl", backend)[0], 0)
            picks = [self.ctl(c, "lb", "next", "ctl")[1].strip() for _ in range(3)]
            self.assertEqual(picks, ["b1", "b2", "b1"])
            self.assertEqual(self.ctl(c, "lb", "down", "ctl", "b2")[0], 0)
            self.assertEqual(self.ctl(c, "lb", "next", "ctl")[1].strip(), "b1")

            code, out, _ = self.ctl(c, "cluster", "status")
            self.assertEqual(code, 0)
            lines = out.strip().split("\n")
            self.assertEqual(lines[-1], "members: voters=1,2,3", out)
            rows = [line.split() for line in lines[1:-1]]
            self.assertEqual(len(rows), 3, out)
            self.assertEqual(sum(1 for row in rows if row[1] == "leader"), 1, out)
            self.assertEqual(len({row[6] for row in rows}), 1, "every node names the same leader")
            code, _, _ = self.ctl(c, "put", "not-a-valid-key", "v")
            self.assertEqual(code, 5, "an invalid name is rejected by the cluster")
            code, _, err = self.ctl(c, "pool", "create")
            self.assertEqual(code, 2, err)
            # Nothing listens there: never applied.
            dead = f"127.0.0.1:{keelcluster.free_ports(1)[0]}"
            one_key = os.path.join(c.dir, "one-server.keys")
            with open(one_key, "w") as f:
                f.write(c.node_keys[1][0].decode() + "\n")  # a key without a name: for every endpoint
            code, _, err = self.ctl(c, "get", "ctl/kv/a", endpoints=dead,
                                    auth=[f"--key-file={c.key_path('admin')}", f"--server-keys={one_key}"])
            self.assertEqual(code, 3, err)
            # Authentication: no keys, or keys and --insecure, or a public key file given as a
            # key pair, are usage errors that say what to give.
            code, _, err = self.ctl(c, "get", "ctl/kv/a", auth=[])
            self.assertEqual(code, 2, err)
            self.assertIn("--key-file", err)
            code, _, err = self.ctl(c, "get", "ctl/kv/a", auth=c.client_flags() + ["--insecure"])
            self.assertEqual(code, 2, err)
            code, _, err = self.ctl(c, "get", "ctl/kv/a",
                                    auth=[f"--key-file={c.key_path('admin', 'pub')}",
                                          f"--server-keys={c.key_path('servers', 'keys')}"])
            self.assertEqual(code, 2, err)
            self.assertIn("admin.pub", err)


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
