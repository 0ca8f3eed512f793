"""The keel processes of a chaos run: keys (`keel keygen`), one data dir per node (on its own
small tmpfs when root, so that the nemesis can fill it up), the delay relay, start / kill /
pause / restart, and who leads (each node's /metrics: raft_leader_status).

Every process started is tracked and killed (SIGCONT first, for paused ones) and reaped by
close(); every mount is unmounted. close() never raises and is safe to call twice.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import keelcluster  # noqa: E402  (free_ports: one port picker for every process-level test)

RAFT_PORT, CLIENT_PORT, METRICS_PORT = 7001, 7101, 7201


def free_ports(count):
    # Free on every interface, not only loopback: with network namespaces the relay listens on
    # the host side of the namespaces' links (network.py: relay_host).
    return keelcluster.free_ports(count, host="")


class Cluster:
    def __init__(self, bin_dir, keel_binary, n, work_dir, out_dir, tmpfs, planted_bug=None,
                 tick_ms=50, election_ticks=10):
        self.bin_dir, self.keel_binary, self.n = bin_dir, keel_binary, n
        self.work, self.out, self.tmpfs = work_dir, out_dir, tmpfs
        self.planted_bug = planted_bug
        self.tick_ms, self.election_ticks = tick_ms, election_ticks
        self.procs = {}     # node -> Popen (running or exited, until restarted)
        self.paused = set()
        self.mounted = []
        self.relay = None
        self.network = None
        self.ports = {}     # node -> (raft, client, metrics) in loopback mode

    # --- set-up ---

    def ids(self):
        return list(range(1, self.n + 1))

    def setup(self, network, relay_ports):
        self.network = network
        if network.kind == "loopback":
            ports = free_ports(3 * self.n)
            self.ports = {i: tuple(ports[3 * (i - 1):3 * i]) for i in self.ids()}
        self.make_keys()
        for i in self.ids():
            os.makedirs(self.data_dir(i), exist_ok=True)
            if self.tmpfs:
                # Small, so that filling it is quick; big enough for a 10-minute run's log
                # between snapshots.
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", self.data_dir(i)], check=True)
                self.mounted.append(self.data_dir(i))
        specs = [f"{i},{j},{port},{network.node_host(j)},{self.port(j, 'raft')}"
                 for (i, j), port in sorted(relay_ports.items())]
        self.relay_log = open(os.path.join(self.out, "relay.log"), "w")
        self.relay = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "relay.py"),
                                       network.relay_host] + specs, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self.relay_log, text=True)
        if self.relay.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay did not start (see relay.log)")
        self.relay.send = self.relay_command
        self.relay_ports = relay_ports

    def relay_command(self, line):
        self.relay.stdin.write(line + "\n")
        self.relay.stdin.flush()

    def port(self, i, which):
        if self.ports:
            return self.ports[i][("raft", "client", "metrics").index(which)]
        return {"raft": RAFT_PORT, "client": CLIENT_PORT, "metrics": METRICS_PORT}[which]

    def key_path(self, name):
        return os.path.join(self.work, "keys", name)

    def keygen(self, name):
        subprocess.run([os.path.join(self.bin_dir, "keel"), "keygen", f"--out={self.key_path(name)}"], check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        with open(self.key_path(name) + ".pub") as f:
            return f.read().strip()

    def make_keys(self):
        os.makedirs(self.key_path(""), exist_ok=True)
        node_keys = {i: self.keygen(f"n{i}") for i in self.ids()}
        client_key = self.keygen("client")
        with open(self.key_path("peers.keys"), "w") as f:
            f.writelines(f"{i}={k}\n" for i, k in node_keys.items())
        with open(self.key_path("clients.keys"), "w") as f:
            f.write(f"chaos={client_key}\n")
        with open(self.key_path("servers.keys"), "w") as f:
            f.writelines(f"{self.client_endpoint(i)}={k}\n" for i, k in node_keys.items())

    def data_dir(self, i):
        return os.path.join(self.work, f"n{i}")

    def client_endpoint(self, i):
        return f"{self.network.node_host(i)}:{self.port(i, 'client')}"

    def endpoints(self):
        return ",".join(self.client_endpoint(i) for i in self.ids())

    def client_flags(self):
        return [f"--key-file={self.key_path('client.key')}", f"--server-keys={self.key_path('servers.keys')}"]

    # --- processes ---

    def command(self, i, bootstrap):
        # Node i reaches every other node through the relay's port for link (i, j).
        peers = ",".join(f"{j}={self.network.node_host(i)}:{self.port(i, 'raft')}" if j == i else
                         f"{j}={self.network.relay_host}:{self.relay_ports[(i, j)]}" for j in self.ids())
        host = self.network.node_host(i)
        cmd = self.network.prefix(i) + [
            os.path.join(self.bin_dir, self.keel_binary), f"--id={i}", "--cluster-id=77",
            f"--data-dir={self.data_dir(i)}", f"--peers={peers}",
            f"--client-addr={host}:{self.port(i, 'client')}", f"--metrics-addr={host}:{self.port(i, 'metrics')}",
            f"--tick-ms={self.tick_ms}", f"--election-ticks={self.election_ticks}", "--snapshot-every=2000",
            f"--key-file={self.key_path(f'n{i}.key')}", f"--peer-keys={self.key_path('peers.keys')}",
            f"--client-keys={self.key_path('clients.keys')}"]
        if self.planted_bug:
            cmd.append(f"--planted-bug={self.planted_bug}")
        if bootstrap:
            cmd.append("--bootstrap")
        return cmd

    def start(self, i, bootstrap=False):
        with open(os.path.join(self.out, f"n{i}.log"), "a") as log:
            log.write(f"=== harness: starting node {i} at {time.time():.3f}\n")
            log.flush()
            self.procs[i] = subprocess.Popen(self.command(i, bootstrap), stdout=log, stderr=subprocess.STDOUT)

    def alive(self, i):
        proc = self.procs.get(i)
        return proc is not None and proc.poll() is None

    def kill(self, i):
        proc = self.procs[i]
        if proc.poll() is None:
            if i in self.paused:
                proc.send_signal(signal.SIGCONT)
            proc.kill()
        self.paused.discard(i)
        return proc.wait(timeout=20)

    def pause(self, i):
        self.procs[i].send_signal(signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        if i in self.paused and self.alive(i):
            self.procs[i].send_signal(signal.SIGCONT)
        self.paused.discard(i)

    # --- who leads ---

    def metrics(self, i, timeout=0.5):
        url = f"http://{self.network.node_host(i)}:{self.port(i, 'metrics')}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read().decode()
        except OSError:
            return None

    def figure(self, i, name):
        """The value of metric `name` (no labels) on node i, or None if it cannot be read."""
        text = self.metrics(i)
        match = re.search(rf"^{re.escape(name)} (\S+)$", text or "", re.M)
        return float(match.group(1)) if match else None

    def leader(self):
        """A node that says it leads (the highest term if several do), or 0."""
        best = (-1, 0)
        for i in self.ids():
            if i in self.paused or not self.alive(i):
                continue
            text = self.metrics(i)
            if text and re.search(r"^raft_leader_status 1(\.0)?$", text, re.M):
                term = re.search(r"^keel_raft_term (\S+)$", text, re.M)
                best = max(best, (float(term.group(1)) if term else 0, i))
        return best[1]

    def wait_leader(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader:
                return leader
            time.sleep(0.1)
        return 0

    # --- teardown ---

    def close(self):
        for i in list(self.procs):
            try:
                self.kill(i)
            except Exception:
                pass
        if self.relay is not None and self.relay.poll() is None:
            self.relay.kill()
            self.relay.wait(timeout=10)
        for path in self.mounted:
            subprocess.run(["umount", "-l", path], check=False)
        self.mounted = []
        shutil.rmtree(self.work, ignore_errors=True)
