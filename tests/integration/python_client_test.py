"""A client in another language: Python with nothing but Debian's python3-zmq and
python3-protobuf and the code protoc generates from net/client.proto. `ExampleClient` is all a
proxy author needs (see net/client.proto for the contract); the test runs it against a real
3-node cluster: register a session, create a pool, acquire a slot, create a load balancer and
pick a backend, read cluster status from every node."""
import time
import unittest

import zmq

import keelcluster
from keelcluster import Cluster


class ExampleClient:
    """A minimal keel client: any node, retries with the same (session, sequence), CURVE.

    `keys` is (client public, client secret, {endpoint: node public}), Z85 bytes as in the
    files `keel keygen` writes."""

    def __init__(self, endpoints, client_pb2, node_pb2, keys):
        self.pb, self.node_pb2 = client_pb2, node_pb2
        self.keys = keys
        self.ctx = zmq.Context.instance()
        self.endpoints = endpoints
        self.next_id, self.turn = 1, 0
        self.session, self.sequence = 0, 0

    def call(self, request, endpoint=None, timeout=2.0):
        request.id, self.next_id = self.next_id, self.next_id + 1
        request.timeout_nanos = int(timeout * 1e9)
        endpoint = endpoint or self.endpoints[self.turn % len(self.endpoints)]
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_publickey, sock.curve_secretkey = self.keys[0], self.keys[1]
        sock.curve_serverkey = self.keys[2][endpoint]
        sock.connect(endpoint)
        try:
            sock.send(request.SerializeToString())
            while sock.poll(int(timeout * 1000) + 500):
                response = self.pb.Response()
                response.ParseFromString(sock.recv())
                if response.id == request.id:
                    return response
            return None
        finally:
            sock.close()

    def run(self, request, attempts=20):
        """Retries (rotating nodes) until an answer that settles the request."""
        for _ in range(attempts):
            response = self.call(request)
            if response is not None and response.code in (self.node_pb2.CODE_OK,
                                                          self.node_pb2.CODE_INVALID_ARGUMENT):
                return response
            self.turn += 1
            time.sleep(0.1)
        raise RuntimeError("cluster unavailable")

    def open_session(self):
        request = self.pb.Request()
        request.command.register_session.timeout_nanos = int(30e9)
        self.session = self.run(request).result.session

    def mutate(self, fill):
        self.sequence += 1
        request = self.pb.Request()
        request.command.session = self.session
        request.command.sequence = self.sequence
        request.command.acked_sequence = self.sequence - 1
        fill(request.command)
        return self.run(request).result

    def status(self, endpoint):
        request = self.pb.Request()
        request.status.SetInParent()
        response = self.call(request, endpoint)
        return response.status if response else None


class PythonClientTest(unittest.TestCase):
    def test_pool_lb_and_status_from_python(self):
        with Cluster(nodes=3) as c:
            c.wait_leader()
            client_pb2, kv_pb2, node_pb2 = keelcluster.protos()
            endpoints = [f"tcp://127.0.0.1:{c.client_ports[n]}" for n in c.ids()]
            server_keys = {f"tcp://127.0.0.1:{c.client_ports[n]}": c.node_keys[n][0] for n in c.ids()}
            client = ExampleClient(endpoints, client_pb2, node_pb2, (*c.client_key, server_keys))
            client.open_session()
            self.assertGreater(client.session, 0)

            def create_pool(cmd):
                cmd.pool_create.pool = "py/pool"
                cmd.pool_create.capacity = 3
            self.assertEqual(client.mutate(create_pool).code, kv_pb2.CODE_OK)

            def acquire(cmd):
                cmd.pool_acquire.pool = "py/pool"
                cmd.pool_acquire.owner = "python-proxy"
            result = client.mutate(acquire)
            self.assertEqual(result.code, kv_pb2.CODE_OK)
            self.assertTrue(result.HasField("slot"))
            self.assertEqual(result.slot, 0)

            def create_lb(cmd):
                cmd.lb_create.group = "py"
                cmd.lb_create.policy = kv_pb2.POLICY_ROUND_ROBIN
            self.assertEqual(client.mutate(create_lb).code, kv_pb2.CODE_OK)
            for backend in ("db-1:5432", "db-2:5432"):
                def add(cmd, backend=backend):
                    cmd.lb_set_backend.group = "py"
                    cmd.lb_set_backend.backend = backend
                self.assertEqual(client.mutate(add).code, kv_pb2.CODE_OK)
            picks = []
            for _ in range(4):
                def pick(cmd):
                    cmd.lb_pick.group = "py"
                result = client.mutate(pick)
                self.assertEqual(result.code, kv_pb2.CODE_OK)
                picks.append(result.backend)
            # Round robin decided at apply time: strictly alternating, whoever asks.
            self.assertEqual(picks, ["db-1:5432", "db-2:5432", "db-1:5432", "db-2:5432"])

            statuses = [client.status(e) for e in endpoints]
            self.assertTrue(all(s is not None for s in statuses))
            self.assertEqual(sum(1 for s in statuses if s.role == "leader"), 1)
            leaders = {s.leader for s in statuses}
            self.assertEqual(len(leaders), 1)
            for s in statuses:
                self.assertEqual(list(s.voters), [1, 2, 3])
                self.assertEqual(s.cluster_id, c.cluster_id)
            print("cluster status from python:",
                  [(s.id, s.role, s.term, s.commit) for s in statuses])


if __name__ == "__main__":
    keelcluster.parse_args()
    unittest.main(verbosity=2)
