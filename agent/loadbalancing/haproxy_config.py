"""One load balancer node as a complete HAProxy configuration (pure).

:func:`render` returns the ``haproxy.cfg`` text and the files it refers to (TLS certificates, fixed-response
bodies, the ELB error pages), relative to the node's directory, so the caller writes them all before a
reload and the output is a plain function of the section.

Rules. HAProxy runs every ``http-request`` rule before any ``use_backend``, so rule order cannot be left
to it: each rule (in priority order) sets ``txn.lb_rule`` to its index when it matches and no earlier rule
did; then every action is guarded by ``{ var(txn.lb_rule) -m int eq N }`` (the default actions by the
variable being absent). The first matching rule wins whatever its action type, as in ELB.

Weighted forwards. One random number per request (``txn.lb_pick``, 0..999999) is compared with each
group's cumulative share: ``use_backend A if rule pick<300000``, ``use_backend B if rule``. Each target
group keeps its own backend, so health checks and statistics stay per target group (a combined backend with
scaled server weights would mix groups and run one check per group and server twice).

Fail open. When every target of a checked group is unhealthy, ELB sends requests to all of them anyway (its
health checks may be what is wrong). Each target is therefore listed twice: checked, and as an unchecked
``backup`` (``fo-`` before its name), which HAProxy uses, all together (``option allbackups``), only
while no checked server is up. A draining target gets no backup: it takes no new requests either way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from agent.contract.loadbalancers import HTTP_PROTOCOLS, Action, Listener, Node, Target, TargetGroup
from agent.loadbalancing import haproxy_match as match

MAXCONN = 4096
PICK_RANGE = 1_000_000
CONNECT_TIMEOUT = 10
TRACE_ID = "Root=1-%[date,hex,lower,bytes(8)]-%[uuid,regsub(-,,g),bytes(0,24)]"
BALANCE = {"round_robin": "roundrobin", "least_outstanding_requests": "leastconn", "weighted_random": "random"}
CONTENT_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
#: ELB's own error pages (HTTPCode_ELB_5XX), as AWS words them.
#: The servers' states a reload carries over (written by ``server.Haproxies``), and the file's content when
#: there are none yet: its format version alone (an empty file makes HAProxy warn).
SERVER_STATE = "server-state"
NO_SERVER_STATE = "1\n"
#: The name of a target's fail-open twin starts with this.
FAIL_OPEN_PREFIX = "fo-"
ERROR_PAGES = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass(frozen=True)
class Rendered:
    """What a node's HAProxy needs on disk: the configuration and its files (relative path -> text)."""

    config: str
    files: dict[str, str] = field(default_factory=dict)
    #: Listeners the node cannot serve, with the reason (UDP, HTTPS without a certificate).
    skipped: tuple[str, ...] = ()


def backend_name(group: TargetGroup) -> str:
    """``tg-<name>-<id>`` from the ARN (``targetgroup/<name>/<id>``), or a digest when it is unusual."""
    parts = group.target_group_arn.rsplit(":", 1)[-1].split("/")
    if len(parts) == 3 and re.fullmatch(r"[A-Za-z0-9-]{1,32}", parts[1]) and re.fullmatch(r"[0-9a-f]{1,32}", parts[2]):
        return f"tg-{parts[1]}-{parts[2]}"
    return "tg-" + hashlib.sha1(group.target_group_arn.encode()).hexdigest()[:16]


def server_name(target: Target) -> str:
    return f"{target.id}:{target.port}"


def frontend_name(listener: Listener) -> str:
    return f"listener-{listener.port}"


def cookie_value(group: TargetGroup, target: Target) -> str:
    """An opaque stickiness cookie per target (AWS's AWSALB cookie names no target either)."""
    return hashlib.sha1(f"{group.target_group_arn}|{server_name(target)}".encode()).hexdigest()[:16]


def render(node: Node, directory: str, user: str | None = None) -> Rendered:
    """The node's configuration; ``directory`` is where the node's files live (absolute), ``user`` the account
    HAProxy drops to after binding (None: stays root)."""
    files = {f"errors/{code}.http": error_page(code, text) for code, text in ERROR_PAGES.items()}
    files["errors/503.body"] = files["errors/503.http"].split("\r\n\r\n", 1)[1]
    lines = global_section(node, directory, user) + defaults_section(node, directory)
    skipped: list[str] = []
    used: set[str] = set()
    for listener in sorted(node.listeners, key=lambda item: item.port):
        reason = unservable(listener)
        if reason:
            skipped.append(f"{listener.protocol} {listener.port}: {reason}")
            lines += ["", f"# listener {listener.protocol} {listener.port} skipped: {reason}"]
            continue
        lines += [""] + frontend(node, listener, directory, files, used)
    for group in node.target_groups:
        lines += [""] + backend(node, group)
    return Rendered("\n".join(lines) + "\n", files, tuple(skipped))


def unservable(listener: Listener) -> str | None:
    if listener.protocol == "UDP":
        return "HAProxy does not forward UDP"
    if listener.protocol in ("HTTPS", "TLS") and not (listener.certificate_pem and listener.private_key_pem):
        return "no certificate"
    return None


def global_section(node: Node, directory: str, user: str | None) -> list[str]:
    lines = ["# generated by the Cloudlet agent for " + node.load_balancer_arn, "global",
             "    master-worker",
             f"    stats socket {directory}/admin.sock mode 600 level admin expose-fd listeners",
             f"    maxconn {MAXCONN}",
             "    nbthread 1",
             "    log stderr format raw local0 notice",
             "    ssl-default-bind-options ssl-min-ver TLSv1.2",
             f"    hard-stop-after {hard_stop_after(node)}s",
             f"    server-state-file {directory}/{SERVER_STATE}"]
    if user:
        lines += [f"    user {user}", f"    group {user}"]
    return lines


def hard_stop_after(node: Node) -> int:
    """How long an old worker may finish its connections after a reload: the longest of the idle timeout
    and the deregistration delays (what a draining target is promised), plus a margin."""
    return max([node.idle_timeout_seconds] + [group.deregistration_delay_seconds for group in node.target_groups]) + 5


def defaults_section(node: Node, directory: str) -> list[str]:
    idle = node.idle_timeout_seconds
    return ["", "defaults", "    log global", "    option dontlognull", "    load-server-state-from-file global",
            f"    timeout connect {CONNECT_TIMEOUT}s",
            f"    timeout client {idle}s", f"    timeout server {idle}s", f"    timeout tunnel {idle}s",
            f"    timeout http-request {idle}s", f"    timeout http-keep-alive {idle}s",
            *(f"    errorfile {code} {directory}/errors/{code}.http" for code in ERROR_PAGES)]


def error_page(code: int, text: str) -> str:
    body = (f"<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n<center><h1>{code} {text}</h1>"
            "</center>\r\n</body>\r\n</html>\r\n")
    return (f"HTTP/1.1 {code} {text}\r\nServer: awselb/2.0\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n{body}")


def frontend(node: Node, listener: Listener, directory: str, files: dict[str, str], used: set[str]) -> list[str]:
    bind = f"    bind {node.ip}:{listener.port}"
    if listener.protocol in ("HTTPS", "TLS"):
        pem = f"tls/listener-{listener.port}.pem"
        files[pem] = _pem(listener.certificate_pem or "") + _pem(listener.private_key_pem or "")
        bind += f" ssl crt {directory}/{pem}" + (" alpn h2,http/1.1" if listener.protocol == "HTTPS" else "")
    lines = [f"frontend {frontend_name(listener)}", bind]
    if listener.protocol not in HTTP_PROTOCOLS:  # NLB: plain TCP forwarding to the one target group
        lines.append("    mode tcp")
        action = terminal(listener.default_actions)
        groups = [g for g in (action.groups() if action and action.type == "forward" else []) if g.weight > 0]
        group = node.group(groups[0].target_group_arn) if groups else None
        if group is not None:
            lines.append(f"    default_backend {backend_name(group)}")
        return lines
    scheme = listener.protocol.lower()
    lines += ["    mode http", "    option forwardfor",
              f"    http-request set-header X-Forwarded-Proto {scheme}",
              f"    http-request set-header X-Forwarded-Port {listener.port}",
              f"    http-request set-header X-Amzn-Trace-Id '{TRACE_ID}' "
              "unless { req.hdr(X-Amzn-Trace-Id) -m found }"]
    rules = listener.ordered_rules()
    actions = [(index, terminal(rule.actions)) for index, rule in enumerate(rules)]
    actions.append((None, terminal(listener.default_actions)))
    if any(action and action.type == "forward" and len(action.groups()) > 1 for _, action in actions):
        lines.append(f"    http-request set-var(txn.lb_pick) rand({PICK_RANGE})")
    choose = []
    for index, rule in enumerate(rules):
        names = []
        for number, condition in enumerate(rule.conditions):
            name = f"rule{index}_c{number}"
            lines += ["    " + acl for acl in match.condition_acls(name, condition)]
            names.append(name)
        guard = " ".join(names) if index == 0 else " ".join(["!{ var(txn.lb_rule) -m found }", *names])
        choose.append(f"    http-request set-var(txn.lb_rule) int({index})" + (f" if {guard}" if guard else ""))
    lines += choose
    use_backend: list[str] = []
    for index, action in actions:
        terms = "!{ var(txn.lb_rule) -m found }" if index is None else f"{{ var(txn.lb_rule) -m int eq {index} }}"
        http, backends = action_lines(node, listener, action, terms, directory, files, index)
        lines += ["    " + line for line in http]
        use_backend += ["    " + line for line in backends]
    return lines + use_backend


def action_lines(node: Node, listener: Listener, action: Action | None, terms: str, directory: str,
                 files: dict[str, str], index: int | None) -> tuple[list[str], list[str]]:
    """(``http-request`` lines, ``use_backend`` lines) taking ``action`` if ``terms``."""
    if action is None:
        return [f"http-request return status 503 content-type text/html file {directory}/errors/503.body if {terms}"
                ], []
    if action.type == "redirect":
        return match.redirect_lines(action, listener.protocol, listener.port, terms), []
    if action.type == "fixed-response":
        status = action.status_code or "503"
        if not action.message_body:
            return [f"http-request return status {status} if {terms}"], []
        relative = f"bodies/listener-{listener.port}-{'default' if index is None else index}"
        files[relative] = action.message_body
        kind = action.content_type if CONTENT_TYPE.match(action.content_type or "") else "text/plain"
        return [f"http-request return status {status} content-type '{kind}' file {directory}/{relative} "
                f"if {terms}"], []
    weighted = [(node.group(g.target_group_arn), g.weight) for g in action.groups() if g.weight > 0]
    weighted = [(group, weight) for group, weight in weighted if group is not None]
    if not weighted:  # every group weighs 0 (or none is known): nothing to send to
        return [f"http-request return status 503 content-type text/html file {directory}/errors/503.body "
                f"if {terms}"], []
    total = sum(weight for _, weight in weighted)
    backends, cumulative = [], 0
    for position, (group, weight) in enumerate(weighted):
        cumulative += weight
        if position == len(weighted) - 1:
            backends.append(f"use_backend {backend_name(group)} if {terms}")
        else:
            threshold = cumulative * PICK_RANGE // total
            backends.append(f"use_backend {backend_name(group)} if {terms} "
                            f"{{ var(txn.lb_pick) -m int lt {threshold} }}")
    return [], backends


def terminal(actions: list[Action]) -> Action | None:
    """The action ELB acts on: the last forward, fixed-response or redirect (authenticate-* come first)."""
    return next((action for action in reversed(actions) if action.type in ("forward", "fixed-response", "redirect")),
                None)


def backend(node: Node, group: TargetGroup) -> list[str]:
    http = node.is_application
    lines = [f"backend {backend_name(group)}", f"    mode {'http' if http else 'tcp'}",
             f"    balance {BALANCE.get(group.load_balancing_algorithm, 'roundrobin')}"]
    sticky = group.stickiness
    if sticky.enabled and http and sticky.type == "lb_cookie":
        lines.append(f"    cookie AWSALB insert indirect nocache maxlife {sticky.duration_seconds}s")
    elif sticky.enabled and not http and sticky.type == "source_ip":
        lines += [f"    stick-table type ip size 100k expire {sticky.duration_seconds}s", "    stick on src"]
    check = group.health_check
    if check.enabled:
        if check.protocol in HTTP_PROTOCOLS:
            # HTTP/1.1 needs a Host (nginx answers 400 without one). AWS sends the target's address; HAProxy 2.6
            # cannot vary a check's header per server, so the node's own address stands in for it.
            lines += ["    option httpchk",
                      f"    http-check send meth GET uri '{check.path}' ver HTTP/1.1 "
                      f"hdr Host {node.ip} hdr User-Agent ELB-HealthChecker/2.0",
                      f"    http-check expect rstatus {match.status_regex(check.matcher)}"]
        lines += [f"    timeout check {check.timeout_seconds}s",
                  f"    default-server inter {check.interval_seconds}s fall {check.unhealthy_threshold} "
                  f"rise {check.healthy_threshold}"]
    for target in group.targets:
        lines.append("    " + server_line(group, target))
    fail_open = [target for target in group.targets if not target.draining] if check.enabled else []
    if fail_open:
        lines.append("    option allbackups")
        lines += ["    " + server_line(group, target, fail_open=True) for target in fail_open]
    return lines


def server_line(group: TargetGroup, target: Target, *, fail_open: bool = False) -> str:
    """A target's ``server`` line; with ``fail_open``, its unchecked backup twin (see the module's text)."""
    words = ["server", FAIL_OPEN_PREFIX + server_name(target) if fail_open else server_name(target),
             f"{target.ip}:{target.port}"]
    tls = group.protocol in ("HTTPS", "TLS")
    if tls:
        words += ["ssl", "verify", "none"]
    if fail_open:
        return " ".join([*words, "backup"])
    check = group.health_check
    if check.enabled:
        words.append("check")
        if check.port != "traffic-port":
            words += ["port", check.port]
        if check.protocol == "HTTPS" and not tls:
            words += ["check-ssl", "verify", "none"]
        elif check.protocol != "HTTPS" and tls:
            words.append("no-check-ssl")
    if group.stickiness.enabled and group.stickiness.type == "lb_cookie":
        words += ["cookie", cookie_value(group, target)]
    if target.draining:  # no new requests; those in flight finish on the worker that took them
        words.append("disabled")
    return " ".join(words)


def _pem(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
