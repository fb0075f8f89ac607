"""Reachability Analyzer's probe packets (pure): what to inject where, and how to recognise it on arrival.

A probe confirms a verdict with the dataplane itself. It is one TCP SYN or UDP datagram built as the source
interface would send it (its MAC and address, into its subnet's bridge), so the bridge's anti-spoofing
guard, the network ACLs, the routes and the security groups of the VPC router namespace judge it exactly as
they judge that interface's own traffic. It enters through a transient veth on the bridge rather than the
interface's own port, so the guest's link is never touched; that port does not learn MACs, so frames for the
interface keep going to the guest. Building the whole frame (next hop MAC included) needs no ARP from the
probe, which would otherwise announce the interface's address from a second port.

The packet carries a random source port and a nonce (the TCP sequence number, or the UDP payload), by which
the watch on the destination's bridge port recognises it, even after NAT rewrote its addresses. The only
side effect is the destination's answer (a SYN-ACK or RST, or a UDP reply), which reaches the real source
guest and is dropped or reset there, as a stray packet would be.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from agent.contract.probes import ProbeRequest
from agent.network import naming

ETH_P_IP = 0x0800
PROTOCOLS = {"tcp": 6, "udp": 17}
TCP_SYN = 0x02
#: The UDP payload: this marker, then the nonce.
UDP_MARKER = b"cloudlet-probe:"


@dataclass(frozen=True)
class ProbePlan:
    """Where one probe is injected and watched, and the frame it sends."""

    #: The source VPC's router namespace, the source subnet's bridge there, and the transient veth's ends.
    inject_netns: str
    bridge: str
    port: str
    inner: str
    #: The destination VPC's router namespace and the destination interface's bridge port there.
    watch_netns: str
    watch_port: str
    frame: bytes
    protocol: int
    source_port: int
    destination_port: int
    nonce: int


def plan_probe(request: ProbeRequest, prefix: str, source_port: int, nonce: int) -> ProbePlan:
    """The plan of ``request`` with this agent's name ``prefix``, a source port and a 32-bit nonce.

    On the source's own subnet the frame goes straight to the destination's MAC; anywhere else (another
    subnet, a peer VPC, a public address) to the subnet router, whose MAC ``naming`` derives from the subnet.
    """
    if request.protocol not in PROTOCOLS:
        raise ValueError(f"a probe sends tcp or udp, not {request.protocol!r}")
    if not 0 < request.destination_port < 65536 or not 0 < source_port < 65536:
        raise ValueError("probe ports must be within 1-65535")
    next_hop = request.destination_mac if request.on_link else naming.mac_for(request.source_subnet_id)
    port, inner = naming.probe_ports(request.probe_id)
    frame = ipv4_frame(request.source_mac, next_hop, request.source_address, request.destination_address,
                       request.protocol, source_port, request.destination_port, nonce)
    return ProbePlan(inject_netns=naming.router_netns(prefix, request.source_vpc_id),
                     bridge=naming.subnet_bridge(request.source_subnet_id), port=port, inner=inner,
                     watch_netns=naming.router_netns(prefix, request.destination_vpc_id),
                     watch_port=request.destination_bridge_port, frame=frame,
                     protocol=PROTOCOLS[request.protocol], source_port=source_port,
                     destination_port=request.destination_port, nonce=nonce)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ipv4_frame(source_mac: str, destination_mac: str, source: str, destination: str, protocol: str,
               source_port: int, destination_port: int, nonce: int) -> bytes:
    """An Ethernet frame holding one IPv4 TCP SYN or UDP datagram, every checksum filled in."""
    src, dst = ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed
    number = PROTOCOLS[protocol]
    if number == PROTOCOLS["tcp"]:
        segment = struct.pack("!HHIIBBHHH", source_port, destination_port, nonce, 0, 5 << 4, TCP_SYN, 64240,
                              0, 0)
    else:
        payload = UDP_MARKER + struct.pack("!I", nonce)
        segment = struct.pack("!HHHH", source_port, destination_port, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, number, len(segment))
    offset = 16 if number == PROTOCOLS["tcp"] else 6
    l4_checksum = checksum(pseudo + segment) or 0xFFFF  # UDP's 0 means "none"; 0xFFFF is the same sum
    segment = segment[:offset] + struct.pack("!H", l4_checksum) + segment[offset + 2:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), nonce & 0xFFFF, 0x4000, 64, number, 0,
                         src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return _mac(destination_mac) + _mac(source_mac) + struct.pack("!H", ETH_P_IP) + header + segment


def is_probe(frame: bytes, plan: ProbePlan) -> bool:
    """Whether a captured Ethernet frame is ``plan``'s packet (addresses may have been translated)."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP or frame[14] >> 4 != 4:
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != plan.protocol:
        return False
    l4 = frame[14 + ihl:]
    if len(l4) < 8 or struct.unpack("!HH", l4[:4]) != (plan.source_port, plan.destination_port):
        return False
    if plan.protocol == PROTOCOLS["tcp"]:
        return len(l4) >= 14 and struct.unpack("!I", l4[4:8])[0] == plan.nonce and bool(l4[13] & TCP_SYN)
    return l4[8:8 + len(UDP_MARKER) + 4] == UDP_MARKER + struct.pack("!I", plan.nonce)
