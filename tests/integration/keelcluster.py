"""Real keel processes on loopback, for the integration tests (label `integration`).

Every cluster gets free ports and a temporary data dir; every wait has a deadline; every
process started is killed and reaped when the cluster is closed, also when a test fails (the
context manager and an atexit hook both do it). Clients talk to nodes with nothing but
python3-zmq and the Python code protoc generates from net/client.proto (the public contract).

Run by ctest as: python3 tests/integration/<test>.py --bin build/bin --pyproto build/python
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

_ARGS = {}


def parse_args():
    """Consumes --bin DIR --pyproto DIR from sys.argv (the rest is for unittest)."""
    rest = [sys.argv[0]]
    i = 1
    while i < len(sys.argv):
        if sys.argv[i] in ("--bin", "--pyproto") and i + 1 < len(sys.argv):
            _ARGS[sys.argv[i][2:]] = os.path.abspath(sys.argv[i + 1])
            i += 2
        else:
            rest.append(sys.argv[i])
            i += 1
    sys.argv = rest
    sys.path.insert(0, _ARGS["pyproto"])


def bin_path(name):
    return os.path.join(_ARGS["bin"], name)


def protos():
    """The generated modules: (client_pb2, kv_pb2, node_pb2)."""
    from net import client_pb2
    from kvstate import kv_pb2
    from engine import node_pb2
    return client_pb2, kv_pb2, node_pb2


_LIVE = []


def _kill_everything():
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc in _LIVE:
            _LIVE.remove(proc)


atexit.register(_kill_everything)


def free_ports(count, host="127.0.0.1"):
    """Ports that were free a moment ago on `host` ("" for every interface): bound to port 0 by
    the kernel, then released. Every process-level test and tool picks its ports here."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind((host, 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def parse_prometheus(text):
    """A strict parser of the Prometheus text format (0.0.4) as keel writes it: returns
    {(name, frozenset(labels.items())): value}. Raises ValueError on anything malformed: a
    sample without a TYPE, a family declared twice, a bad label or value, histogram buckets
    that are not cumulative or end without +Inf equal to _count."""
    import math
    import re
    sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
    types, samples = {}, {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4:
                raise ValueError(f"line {number}: {line!r}")
            if parts[1] == "TYPE":
                if parts[2] in types:
                    raise ValueError(f"line {number}: {parts[2]} declared twice")
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise ValueError(f"line {number}: bad type {parts[3]}")
                types[parts[2]] = parts[3]
            continue
        if line.startswith("#"):
            continue
        m = sample_re.match(line)
        if not m:
            raise ValueError(f"line {number}: not a sample: {line!r}")
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        stem = re.sub(r"_(bucket|sum|count)$", "", name)
        family = stem if types.get(stem) == "histogram" else name
        if family not in types:
            raise ValueError(f"line {number}: {name} has no TYPE")
        labels, pos = {}, 0
        while pos < len(labels_text):
            lm = label_re.match(labels_text, pos)
            if not lm:
                raise ValueError(f"line {number}: bad labels {labels_text!r}")
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        v = float(value)  # accepts +Inf, NaN
        if types[family] == "counter" and (v < 0 or math.isnan(v)):
            raise ValueError(f"line {number}: counter {name} = {value}")
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError(f"line {number}: duplicate sample {name}{labels}")
        samples[key] = v
    for family, kind in types.items():
        if kind != "histogram":
            continue
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items() if k[0] == family + "_bucket"))
        if not buckets or buckets[-1][0] != math.inf:
            raise ValueError(f"{family}: no +Inf bucket")
        if any(later[1] < earlier[1] for earlier, later in zip(buckets, buckets[1:])):
            raise ValueError(f"{family}: buckets not cumulative")
        if buckets[-1][1] != samples.get((family + "_count", frozenset())):
            raise ValueError(f"{family}: +Inf bucket differs from _count")
    return samples


def metric(samples, name, **labels):
    """One sample's value (labels given as keyword arguments), or None."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def read_key_pair(path):
    """The public= and secret= lines of a `keel keygen` key file."""
    pair = {}
    with open(path) as f:
        for line in f:
            name, _, key = line.strip().partition("=")
            if name in ("public", "secret"):
                pair[name] = key
    return pair


def wait_until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Cluster:
    """N keel nodes on loopback. Use as a context manager."""

    def __init__(self, nodes=3, cluster_id=7, tick_ms=50, election_ticks=10, snapshot_every=10000,
                 curve=True, flags=None, spare=0):
        # `spare` more ids get ports and keys but are not started or listed in the members'
        # flags: nodes to add at run time (keelctl member add-learner).
        self.n = nodes
        self.spare = spare
        self.cluster_id = cluster_id
        self.tick_ms = tick_ms
        self.election_ticks = election_ticks
        self.snapshot_every = snapshot_every
        self.dir = tempfile.mkdtemp(prefix="keel-it-")
        total = nodes + spare
        ports = free_ports(3 * total)
        self.raft_ports = {i + 1: ports[i] for i in range(total)}
        self.client_ports = {i + 1: ports[total + i] for i in range(total)}
        self.metrics_ports = {i + 1: ports[2 * total + i] for i in range(total)}
        self.procs = {}
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context()
        self.next_id = 1
        self.client_pb2, self.kv_pb2, self.node_pb2 = protos()
        self.curve = curve
        self.extra_flags = dict(flags or {})  # added to every node's flags
        if curve:
            self.make_keys()

    # --- CURVE keys (keel keygen), as an operator would make them ---

    def keygen(self, name):
        """Makes <dir>/keys/<name>.key and .pub; returns (public, secret) as bytes."""
        os.makedirs(os.path.join(self.dir, "keys"), exist_ok=True)
        out = os.path.join(self.dir, "keys", name)
        subprocess.run([bin_path("keel"), "keygen", f"--out={out}"], check=True, timeout=30,
                       stdout=subprocess.DEVNULL)
        pair = read_key_pair(out + ".key")
        return pair["public"].encode(), pair["secret"].encode()

    def key_path(self, name, ext="key"):
        return os.path.join(self.dir, "keys", f"{name}.{ext}")

    def make_keys(self):
        self.node_keys = {i: self.keygen(f"n{i}") for i in self.all_ids()}
        self.client_key = self.keygen("admin")
        # The initial members know each other's keys from their flags; a spare's key reaches
        # them only through the configuration (member add-learner --public-key-file).
        for name, ids in (("peers", self.ids()), ("peers-all", self.all_ids())):
            with open(self.key_path(name, "keys"), "w") as f:
                for i in ids:
                    f.write(f"{i}={self.node_keys[i][0].decode()}\n")
        with open(self.key_path("clients", "keys"), "w") as f:
            f.write(f"admin={self.client_key[0].decode()}\n")
        with open(self.key_path("servers", "keys"), "w") as f:
            for i, (public, _) in self.node_keys.items():
                f.write(f"127.0.0.1:{self.client_ports[i]}={public.decode()}\n")

    def client_flags(self):
        """keelctl / keel-bench flags to authenticate as the admin client."""
        if not self.curve:
            return ["--insecure"]
        return [f"--key-file={self.key_path('admin')}", f"--server-keys={self.key_path('servers', 'keys')}"]

    def __enter__(self):
        for node in self.ids():
            self.start(node, bootstrap=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            print(self.logs())  # what the nodes said, for the failing test
        self.close()
        return False

    def ids(self):
        return list(range(1, self.n + 1))

    def all_ids(self):
        return list(range(1, self.n + self.spare + 1))

    def election_timeout(self):
        return self.tick_ms * self.election_ticks / 1000.0

    def peers_flag(self, ids=None):
        return ",".join(f"{i}=127.0.0.1:{self.raft_ports[i]}" for i in (ids or self.ids()))

    def data_dir(self, node):
        return os.path.join(self.dir, f"n{node}")

    def log_path(self, node):
        return os.path.join(self.dir, f"n{node}.log")

    def command(self, node, bootstrap, **overrides):
        flags = {
            "id": node, "cluster-id": self.cluster_id, "data-dir": self.data_dir(node),
            "peers": self.peers_flag(), "client-addr": f"127.0.0.1:{self.client_ports[node]}",
            "tick-ms": self.tick_ms, "election-ticks": self.election_ticks,
            "snapshot-every": self.snapshot_every,
            "metrics-addr": f"127.0.0.1:{self.metrics_ports[node]}",
        }
        if self.curve:
            flags.update({"key-file": self.key_path(f"n{node}"), "peer-keys": self.key_path("peers", "keys"),
                          "client-keys": self.key_path("clients", "keys")})
        flags.update(self.extra_flags)
        flags.update(overrides)
        cmd = [bin_path("keel")] + [f"--{k}={v}" for k, v in flags.items()]
        if bootstrap:
            cmd.append("--bootstrap")
        if not self.curve:
            cmd.append("--insecure")
        return cmd

    def start(self, node, bootstrap=False, argv=None):
        """Starts node `node` with its usual flags, or with `argv` if given."""
        log = open(self.log_path(node), "a")
        proc = subprocess.Popen(argv or self.command(node, bootstrap), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[node] = proc
        _LIVE.append(proc)
        return proc

    def kill(self, node, sig=signal.SIGKILL):
        proc = self.procs.pop(node)
        proc.send_signal(sig)
        code = proc.wait(timeout=20)
        _LIVE.remove(proc)
        return code

    def close(self):
        for node in list(self.procs):
            self.kill(node, signal.SIGKILL)
        self.ctx.destroy(linger=0)
        if os.environ.get("KEEL_IT_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        out = []
        for node in self.all_ids():
            try:
                with open(self.log_path(node)) as f:
                    out.append(f"--- node {node}\n" + f.read()[-4000:])
            except OSError:
                pass
        return "\n".join(out)

    # --- the HTTP port ---

    def http_get(self, node, path, timeout=2.0):
        """(status, body) of GET path on `node`'s metrics port, or (None, error text)."""
        import urllib.request
        import urllib.error
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_ports[node]}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return None, str(e)

    def metrics(self, node):
        """`node`'s /metrics parsed (parse_prometheus), or None if it did not answer."""
        status, body = self.http_get(node, "/metrics")
        return parse_prometheus(body) if status == 200 else None

    # --- client side, from net/client.proto alone ---

    def socket_to(self, node, client_key=None, curve=None):
        """A DEALER to `node`'s client port; CURVE with the admin key (or `client_key`) when
        the cluster runs CURVE, unless `curve` says otherwise."""
        s = self.ctx.socket(self.zmq.DEALER)
        s.setsockopt(self.zmq.LINGER, 0)
        if self.curve if curve is None else curve:
            public, secret = client_key or self.client_key
            s.curve_publickey = public
            s.curve_secretkey = secret
            s.curve_serverkey = self.node_keys[node][0]
        s.connect(f"tcp://127.0.0.1:{self.client_ports[node]}")
        return s

    def call(self, node, request, wait=5.0, **socket_options):
        """Sends `request` to `node`; returns the Response, or None if none came within `wait`."""
        if request.id == 0:
            request.id = self.next_id
            self.next_id += 1
        s = self.socket_to(node, **socket_options)
        try:
            s.send(request.SerializeToString())
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if s.poll(int(max(1, (deadline - time.monotonic()) * 1000))):
                    response = self.client_pb2.Response()
                    response.ParseFromString(s.recv())
                    if response.id == request.id:
                        return response
            return None
        finally:
            s.close()

    def status(self, node, wait=1.0):
        request = self.client_pb2.Request()
        request.status.SetInParent()
        response = self.call(node, request, wait)
        return response.status if response is not None else None

    def leader(self, nodes=None):
        """The leader all answering nodes agree on (by the highest term seen), or 0."""
        best = (0, 0)
        for node in nodes or list(self.procs):
            st = self.status(node, 0.5)
            if st is not None and st.role == "leader" and st.term >= best[0]:
                best = (st.term, st.id)
        return best[1]

    def wait_leader(self, nodes=None, timeout=10.0):
        return wait_until("a leader", lambda: self.leader(nodes), timeout)

    def command_request(self, timeout_s=3.0, **fields):
        request = self.client_pb2.Request()
        request.timeout_nanos = int(timeout_s * 1e9)
        for name, value in fields.items():
            if name == "read_mode":
                request.read_mode = value
            elif name == "cluster_id":
                request.cluster_id = value
        return request


class Session:
    """A client session through one cluster, retrying each command with the same
    (session, sequence) until it is answered, rotating over the given nodes."""

    def __init__(self, cluster, nodes, timeout=15.0):
        self.c = cluster
        self.nodes = list(nodes)
        self.timeout = timeout
        self.sequence = 0
        self.turn = 0
        request = self.c.client_pb2.Request()
        request.command.register_session.timeout_nanos = int(60e9)
        response = self.run(request)
        assert response.code == self.c.node_pb2.CODE_OK, response
        self.id = response.result.session

    def run(self, request):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            node = self.nodes[self.turn % len(self.nodes)]
            self.turn += 1
            request.id = 0
            request.timeout_nanos = int(2e9)
            response = self.c.call(node, request, 2.5)
            if response is not None and response.code == self.c.node_pb2.CODE_OK:
                return response
            if response is not None and response.code == self.c.node_pb2.CODE_INVALID_ARGUMENT:
                return response
            time.sleep(0.05)
        raise AssertionError(f"no answer within {self.timeout}s for {request}")

    def mutate(self, fill):
        """fill(command) sets the op; returns the Result."""
        self.sequence += 1
        request = self.c.client_pb2.Request()
        request.command.session = self.id
        request.command.sequence = self.sequence
        request.command.acked_sequence = self.sequence - 1
        fill(request.command)
        return self.run(request).result

    def read(self, fill):
        request = self.c.client_pb2.Request()
        fill(request.command)
        return self.run(request).result

    def put(self, key, value):
        def fill(command):
            command.kv_put.key = key
            command.kv_put.value = value
        return self.mutate(fill)

    def get(self, key):
        def fill(command):
            command.kv_get.key = key
        return self.read(fill)
