"""The Amazon-provided resolver of a VPC (pure): dnsmasq's DNS lines, and the little DNS wire format we read.

The router namespace's dnsmasq, which already does DHCP, also answers DNS at the VPC's base+2 and at
169.254.169.253 (both on the namespace's ``lo``), from the document only:

* a hosts file (``addn-hosts``, one line per address): the private names (and, with ``enableDnsHostnames``,
  the public names, which resolve to the private address inside the VPC). Names are grouped by address with
  the VPC's own domain first, because dnsmasq gives only a line's first name a PTR: reverse lookups answer
  the private name. A file, not config lines: dnsmasq re-reads it on SIGHUP, so an interface coming or going
  anywhere in the VPC never restarts the resolver (nor DHCP) under the instances' feet.
* ``address=/<name>/<api address>`` per Cloudlet API name (it covers every name below, so virtual-hosted
  buckets such as ``bucket.s3.home-1.amazonaws.com`` resolve too), with ``local=/<name>/`` so that other
  types (AAAA) get an empty answer instead of going upstream and coming back with the real AWS's address.
* Everything else: in ``lab`` mode ``local=/#/`` makes dnsmasq answer NXDOMAIN itself; nothing is ever
  forwarded. In ``nat``/``bridge`` mode unknown names go to ``127.0.0.1#FORWARDER_PORT``, the agent's
  forwarder (``dns_forwarder``), which alone can reach the host's resolvers; the VPC's domain and the reverse
  zones of its CIDRs stay local (an unknown ``ip-…`` name is NXDOMAIN, never a question to the outside).

The wire helpers read just enough of a DNS message for the forwarder (match a reply to its question, answer
SERVFAIL) and for probes (tests, the benchmark) to ask a question and read A/PTR answers.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field

from agent.contract import cidr
from agent.contract.network import ApiAccess, Vpc

#: Where the agent's forwarder listens inside each router namespace (on 127.0.0.1, UDP and TCP).
FORWARDER_PORT = 10053
#: TTL of the answers dnsmasq makes from the document (AWS's resolver answers private names with 60 s).
LOCAL_TTL = 60

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# --- dnsmasq configuration ---------------------------------------------------------------------------------


def dns_lines(vpc: Vpc, api: ApiAccess | None, forward: bool, hosts_file: str) -> list[str]:
    """dnsmasq's DNS options for ``vpc`` (``port=0``, no DNS at all, when ``enableDnsSupport`` is off).

    ``forward`` is True only when the host's uplink mode lets unknown names out (``nat``/``bridge``);
    ``hosts_file`` is where :func:`records_file` goes."""
    dns = vpc.dns
    if dns is None:
        return ["port=0"]
    lines = ["port=53", *(f"listen-address={address}" for address in dns.addresses),
             "domain-needed", "dhcp-ignore-names", f"local-ttl={LOCAL_TTL}", f"addn-hosts={hosts_file}"]
    if api is not None:
        # ``local`` too: AAAA questions for these names get an empty answer here, never the real AWS's.
        # A name the VPC has a record of (an interface endpoint's private DNS) answers from it, not the relay's.
        recorded = {record.name.lower().rstrip(".") for record in dns.records}
        for name in sorted(set(api.names)):
            lines += [f"local=/{name}/"] + ([] if name in recorded else [f"address=/{name}/{api.address}"])
    if forward:
        lines.append(f"local=/{dns.domain}/")
        lines += [f"local=/{zone}/" for block in vpc.cidrs for zone in reverse_zones(block)]
        lines.append(f"server=127.0.0.1#{FORWARDER_PORT}")
    else:
        lines.append("local=/#/")
    return lines


def records_file(vpc: Vpc) -> str:
    """The resolver's hosts file: one line per address, the VPC domain's names first (they get the PTR)."""
    if vpc.dns is None:
        return ""
    suffix = "." + vpc.dns.domain
    grouped: dict[str, set[str]] = {}
    for record in vpc.dns.records:
        grouped.setdefault(record.address, set()).add(record.name.lower().rstrip("."))
    return "".join(f"{address} {' '.join(sorted(names, key=lambda n: (not n.endswith(suffix), n)))}\n"
                   for address, names in sorted(grouped.items(), key=lambda item: cidr.address(item[0])))


def reverse_zones(block: str) -> list[str]:
    """The ``in-addr.arpa``/``ip6.arpa`` zones that cover exactly ``block`` (a /20 is sixteen /24 zones)."""
    net = cidr.network(block)
    step = 8 if net.version == 4 else 4
    aligned = -(-net.prefixlen // step) * step
    subnets = [net] if aligned == net.prefixlen else list(net.subnets(new_prefix=aligned))
    zones = []
    for sub in subnets:
        labels = sub.network_address.reverse_pointer.split(".")
        keep = sub.prefixlen // step
        host_labels = (32 if net.version == 4 else 128) // step - keep
        zones.append(".".join(labels[host_labels:]))
    return zones


# --- wire format -------------------------------------------------------------------------------------------


class WireError(ValueError):
    """Not a DNS message we can read."""


@dataclass
class Message:
    """The parts of a DNS message Cloudlet reads; ``answers`` are (type, text) pairs (A/AAAA/PTR/CNAME)."""

    ident: int
    flags: int
    question: tuple[str, int, int] | None
    answers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rcode(self) -> str:
        return RCODES.get(self.flags & 0xF, str(self.flags & 0xF))


def encode_query(name: str, qtype: str = "A", ident: int | None = None) -> bytes:
    """A recursive query for ``name``."""
    ident = random.randrange(1 << 16) if ident is None else ident
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack(
        "!HH", QTYPES[qtype], 1)


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise WireError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed name at ``offset``; returns it and the offset after it."""
    labels: list[str] = []
    end = None
    for _ in range(128):
        if offset >= len(data):
            raise WireError("truncated name")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise WireError("truncated pointer")
            end = offset + 2 if end is None else end
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise WireError("name loop")


def parse(data: bytes) -> Message:
    """Header, first question and the answer section of a message."""
    if len(data) < 12:
        raise WireError("short message")
    ident, flags, qdcount, ancount = struct.unpack("!HHHH", data[:8])
    offset, question = 12, None
    for index in range(qdcount):
        name, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise WireError("truncated question")
        qtype, qclass = struct.unpack("!HH", data[offset:offset + 4])
        offset += 4
        if index == 0:
            question = (name.lower(), qtype, qclass)
    message = Message(ident, flags, question)
    names = {number: text for text, number in QTYPES.items()}
    for _ in range(ancount):
        _, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise WireError("truncated answer")
        rtype, _, _, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if rtype in (1, 28):
            message.answers.append((names[rtype], str(ipaddress.ip_address(rdata))))
        elif rtype in (5, 12):
            message.answers.append((names[rtype], _read_name(data, offset)[0]))
        offset += length
    return message


def error_reply(query: bytes, rcode: int = 2) -> bytes:
    """A reply to ``query`` carrying only ``rcode`` (SERVFAIL by default) and the question, as sent."""
    message = parse(query)
    qdcount = 1 if message.question is not None else 0
    end = 12
    if qdcount:
        _, end = _read_name(query, 12)
        end += 4
    flags = 0x8000 | (message.flags & 0x7900) | 0x0080 | rcode
    return struct.pack("!HHHHHH", message.ident, flags, qdcount, 0, 0, 0) + query[12:end]
