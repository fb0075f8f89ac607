"""EC2 Instance Connect Endpoint tunnels: what the presigned websocket costs next to plain TCP on the subnet.

The lab of tests/e2e/test_instance_connect_tunnel.py (a real ``cloudlet up`` with its agent, a private
subnet, the endpoint's namespace and a namespace instance running a banner-and-echo server on port 22).
Measured, each against its floor (the same connection made directly from inside the endpoint's namespace,
i.e. the veth/bridge path the tunnel's last leg takes anyway):

1. opening: presign, websocket upgrade (SigV4, IAM, the agent's TCP connect) up to the banner, vs a TCP
   connect up to the banner;
2. throughput: MiB echoed back through the tunnel vs through the direct connection, one 64 KiB block in
   flight (a round trip per block: latency-bound, as SSH's windowed traffic is).

    sudo .venv/bin/python bench/bench_eice_tunnel.py [--opens 30] [--mib 32]   (root: namespaces)
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

from common import report  # (importing common puts the repo on sys.path)

from agent.network import naming, netns  # noqa: E402
from controller.ec2.instances.connect import open_tunnel  # noqa: E402
from tests.e2e.test_instance_connect_tunnel import INSTANCE_IP, Lab, _open_22, running_lab  # noqa: E402

CHUNK = 64 * 1024


def tunnel_banner(t: Lab) -> None:
    ws = open_tunnel(t.listener(), t.url(t.cloudlet.root_credentials()), timeout=10)
    ws.recv(timeout=10)
    ws.close()


def direct(endpoint_ns: str) -> socket.socket:
    return netns.run_inside(endpoint_ns, lambda: socket.create_connection((INSTANCE_IP, 22), timeout=10))


def direct_banner(endpoint_ns: str) -> None:
    with direct(endpoint_ns) as sock:
        sock.recv(100)


def median_ms(call, runs: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def echo_mib_s(send, recv, mib: int) -> float:  # noqa: ANN001
    """Send ``mib`` MiB in 64 KiB blocks, each read back (echoed) before the next; MiB/s of payload.

    One block in flight: a bulk echo in both directions at once can stall websockets' sync peers (see
    ``controller.ec2_instance_connect.tunnel``), and SSH's own window keeps its traffic far from that."""
    block = b"x" * CHUNK
    started = time.perf_counter()
    for _ in range(mib * 2**20 // CHUNK):
        send(block)
        got = 0
        while got < CHUNK:
            got += len(recv())
    return mib / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opens", type=int, default=30)
    parser.add_argument("--mib", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-bench-eice-") as work, running_lab(Path(work) / "data") as t:
        _open_22(t, "authorize")
        endpoint_ns = naming.service_netns(t.cloudlet.extra_env["CLOUDLET_AGENT_NAME_PREFIX"],
                                           t.endpoint["NetworkInterfaceIds"][0])
        time.sleep(2)
        opened = median_ms(lambda: tunnel_banner(t), args.opens)
        floor_open = median_ms(lambda: direct_banner(endpoint_ns), args.opens)
        ws = open_tunnel(t.listener(), t.url(t.cloudlet.root_credentials()), timeout=10)
        ws.recv(timeout=10)
        through = echo_mib_s(ws.send, lambda: ws.recv(timeout=30), args.mib)
        ws.close()
        sock = direct(endpoint_ns)
        sock.recv(100)
        plain = echo_mib_s(sock.sendall, lambda: sock.recv(CHUNK), args.mib)
        sock.close()
    print(f"open a tunnel to the banner      p50 {opened:7.2f} ms")
    print(f"TCP from the endpoint namespace  p50 {floor_open:7.2f} ms   ratio {opened / floor_open:6.1f}x")
    print(f"echo through the tunnel              {through:7.1f} MiB/s")
    print(f"echo over the subnet (the limit)     {plain:7.1f} MiB/s   ratio {through / plain:6.2f}x")
    report("Instance Connect tunnel: open to the banner, p50 over TCP from the endpoint's namespace",
           opened / floor_open, "x", tunnel_p50_ms=opened, tcp_p50_ms=floor_open)
    report("Instance Connect tunnel: echo MiB/s over TCP from the endpoint's namespace", through / plain, "x",
           tunnel_mib_s=through, tcp_mib_s=plain)


if __name__ == "__main__":
    main()
