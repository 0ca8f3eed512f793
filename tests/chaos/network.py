"""Where a chaos cluster's nodes live and how the nemesis cuts their links.

NetnsNetwork (root): each node in its own network namespace, joined by veth pairs to a private
bridge in the harness's namespace (which also holds the clients and the delay relay).
Partitions and packet loss are iptables rules in the sending node's namespace, in a chain of
our own (CHAOS) that healing flushes:
    cut i->j     DROP i's packets to the relay port of link i->j
    loss p       DROP i's packets to every relay port with `-m statistic --probability p`
Node i reaches node j only through the relay's port for (i, j), and each direction of raft
traffic is its own TCP connection (a node sends on the connection it dialed: ZmqPeerChannel),
so dropping i's outbound packets to that port cuts exactly i->j, and one-way partitions are
real one-way partitions.

LoopbackNetwork (no root, no namespaces): every node on 127.0.0.1; partitions are the relay's
blackhole; packet loss cannot be injected (the relay sees a byte stream, not packets).

Both: node_host(i) is where node i listens, relay_host where the relay listens, and
commands run inside a node's namespace through prefix(i). Everything made is undone by
teardown(), which never raises (it runs on the way out of failures too).
"""
import os
import subprocess


def run(cmd, check=True):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {result.returncode}: {result.stdout.strip()}")
    return result


def netns_available():
    """(True, '') when namespaces, veths, a bridge and iptables all work here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    if subprocess.run(["sh", "-c", "command -v ip && command -v iptables"], stdout=subprocess.DEVNULL).returncode:
        return False, "ip or iptables missing (iproute2, iptables)"
    probe = f"kcprobe{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe])
        run(["ip", "netns", "exec", probe, "iptables", "-A", "OUTPUT", "-p", "tcp", "-m", "statistic",
             "--mode", "random", "--probability", "0.5", "-j", "DROP"])
        return True, ""
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return False, f"network namespaces unusable: {e}"
    finally:
        run(["ip", "netns", "del", probe], check=False)


class NetnsNetwork:
    kind = "netns"
    can_lose_packets = True

    def __init__(self, n, relay_ports):
        self.n = n
        pid = os.getpid()  # names and subnet per harness run (janitor.py finds leftovers by it)
        self.prefix_name = f"kc{pid}"
        self.subnet = f"10.{200 + (pid // 250) % 50}.{pid % 250}"
        self.bridge = f"{self.prefix_name}br"
        self.relay_ports = relay_ports  # (i, j) -> port
        self.made_ns = []
        self.made_bridge = False

    def ns(self, i):
        return f"{self.prefix_name}n{i}"

    def node_host(self, i):
        return f"{self.subnet}.{i}"

    @property
    def relay_host(self):
        return f"{self.subnet}.254"

    def prefix(self, i):
        return ["ip", "netns", "exec", self.ns(i)]

    def setup(self):
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.made_bridge = True
        run(["ip", "addr", "add", f"{self.relay_host}/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for i in range(1, self.n + 1):
            ns, host_end = self.ns(i), f"{self.prefix_name}h{i}"
            run(["ip", "netns", "add", ns])
            self.made_ns.append(ns)
            run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "link", "set", host_end, "master", self.bridge, "up"])
            inside = self.prefix(i)
            run(inside + ["ip", "addr", "add", f"{self.node_host(i)}/24", "dev", "eth0"])
            run(inside + ["ip", "link", "set", "eth0", "up"])
            run(inside + ["ip", "link", "set", "lo", "up"])
            run(inside + ["iptables", "-N", "CHAOS"])
            run(inside + ["iptables", "-A", "OUTPUT", "-j", "CHAOS"])

    def cut(self, links):
        """Drops every packet on the directed links [(i, j), ...]."""
        for i, j in links:
            run(self.prefix(i) + ["iptables", "-A", "CHAOS", "-p", "tcp", "--dport", str(self.relay_ports[(i, j)]),
                                  "-j", "DROP"])

    def lose(self, nodes, probability):
        """Drops each packet node i sends to a peer with `probability`, for i in nodes."""
        for i in nodes:
            for (src, dst), port in self.relay_ports.items():
                if src == i:
                    run(self.prefix(i) + ["iptables", "-A", "CHAOS", "-p", "tcp", "--dport", str(port), "-m",
                                          "statistic", "--mode", "random", "--probability", f"{probability:.3f}",
                                          "-j", "DROP"])

    def heal(self, relay):
        for i in range(1, self.n + 1):
            run(self.prefix(i) + ["iptables", "-F", "CHAOS"], check=False)

    def teardown(self):
        for ns in self.made_ns:
            run(["ip", "netns", "del", ns], check=False)  # takes its veth pair with it
        self.made_ns = []
        if self.made_bridge:
            run(["ip", "link", "del", self.bridge], check=False)
            self.made_bridge = False


class LoopbackNetwork:
    kind = "loopback"
    can_lose_packets = False

    def __init__(self, n, relay_ports):
        self.n = n
        self.relay_ports = relay_ports
        self.relay = None  # set by the harness: the relay process that blackholes links
        self.blocked = set()

    def node_host(self, i):
        return "127.0.0.1"

    relay_host = "127.0.0.1"

    def prefix(self, i):
        return []

    def setup(self):
        pass

    def cut(self, links):
        for link in links:
            self.relay.send(f"block {link[0]} {link[1]} 1")
            self.blocked.add(link)

    def lose(self, nodes, probability):
        raise NotImplementedError("packet loss needs network namespaces (root)")

    def heal(self, relay):
        for i, j in self.blocked:
            relay.send(f"block {i} {j} 0")
        self.blocked = set()

    def teardown(self):
        pass
