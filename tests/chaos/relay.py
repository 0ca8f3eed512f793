"""A TCP relay for every directed raft link of a chaos cluster, so that the nemesis can delay
(and, on loopback, cut) traffic between nodes: this kernel has no sch_netem, so `tc netem
delay` is not available, and a relay that holds bytes for a while is the faithful substitute.

Node i dials node j's raft port through the relay listening on LISTEN_HOST:port(i, j); the
relay forwards to j's real address. Each direction of a relayed connection keeps its byte
order; a delay holds each chunk until (arrival + delay), never reordering.

Run as a process; commands arrive one per line on stdin:
    delay I J MS      hold bytes on link I->J for MS milliseconds (0: none)
    block I J 0|1     1: cut link I->J (for loopback partitions): its connections are closed and
                      new ones closed at once, until unblocked. (Swallowing bytes instead
                      would corrupt the ZeroMQ stream rather than cut it.)
    quit
Usage: relay.py LISTEN_HOST SPEC... where SPEC is I,J,LISTEN_PORT,TARGET_HOST,TARGET_PORT.
It prints "ready" once every listener is bound.
"""
import asyncio
import sys


class Link:
    def __init__(self, src, dst, target):
        self.src, self.dst, self.target = src, dst, target
        self.delay = 0.0
        self.blocked = False
        self.writers = set()  # both ends of every open connection, to close them on a cut


async def pump(reader, writer, link):
    """Copies reader to writer, honouring the link's delay and blackhole at arrival time."""
    loop = asyncio.get_running_loop()
    last_due = 0.0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if link.blocked:
                break
            # Never earlier than the previous chunk: the stream keeps its order.
            due = max(loop.time() + link.delay, last_due)
            last_due = due
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(link):
    async def on_connect(reader, writer):
        if link.blocked:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*link.target)
        except OSError:
            writer.close()  # the node is down: the dialer reconnects later
            return
        link.writers |= {writer, up_writer}
        await asyncio.gather(pump(reader, up_writer, link), pump(up_reader, writer, link))
        link.writers -= {writer, up_writer}
    return on_connect


async def control(links):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            return
        src, dst, value = int(line[1]), int(line[2]), int(line[3])
        link = links[(src, dst)]
        if line[0] == "delay":
            link.delay = value / 1000.0
        elif line[0] == "block":
            link.blocked = value != 0
            if link.blocked:
                for writer in list(link.writers):
                    writer.close()


async def main(listen_host, specs):
    links = {}
    for spec in specs:
        src, dst, port, host, target_port = spec.split(",")
        link = Link(int(src), int(dst), (host, int(target_port)))
        links[(link.src, link.dst)] = link
        await asyncio.start_server(handler(link), listen_host, int(port), reuse_address=True)
    print("ready", flush=True)
    await control(links)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
