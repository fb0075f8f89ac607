"""The HAProxy configuration of one node (pure), and ``haproxy -c`` accepting what is generated."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.contract.loadbalancers import Condition, QueryPair, parse
from agent.loadbalancing import haproxy_config, haproxy_match
from tests.unit.loadbalancing.sample import TG_A, TG_B, forward, node

DIR = "/var/lib/cloudlet/agent/lb-nodes/eni-0123456789abcdef0"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"


def render(data: dict[str, Any], user: str | None = None) -> haproxy_config.Rendered:
    return haproxy_config.render(parse({"nodes": [data]}).nodes[0], DIR, user)


def lines_of(rendered: haproxy_config.Rendered) -> list[str]:
    return [line.strip() for line in rendered.config.splitlines()]


def test_global_has_master_worker_runtime_socket_and_timeouts_from_idle() -> None:
    lines = lines_of(render(node(idle_timeout_seconds=120), user="haproxy"))
    assert "master-worker" in lines and "user haproxy" in lines
    assert f"stats socket {DIR}/admin.sock mode 600 level admin expose-fd listeners" in lines
    assert "daemon" not in lines and any(line.startswith("maxconn ") for line in lines)
    for timeout in ("client", "server", "http-keep-alive", "tunnel"):
        assert f"timeout {timeout} 120s" in lines
    assert f"errorfile 503 {DIR}/errors/503.http" in lines
    assert "hard-stop-after 125s" in lines  # the idle timeout beats the 30 s deregistration delay


def test_http_listener_adds_alb_headers() -> None:
    lines = lines_of(render(node()))
    assert "bind 10.0.1.20:80" in lines and "mode http" in lines and "option forwardfor" in lines
    assert "http-request set-header X-Forwarded-Proto http" in lines
    assert "http-request set-header X-Forwarded-Port 80" in lines
    trace = next(line for line in lines if "X-Amzn-Trace-Id" in line)
    assert "Root=1-%[date,hex,lower,bytes(8)]-%[uuid,regsub(-,,g),bytes(0,24)]" in trace
    assert trace.endswith("unless { req.hdr(X-Amzn-Trace-Id) -m found }")


def test_rules_pick_the_first_match_in_priority_order_then_act() -> None:
    data = node()
    data["listeners"][0]["rules"].reverse()  # the order in the document does not matter, priorities do
    lines = lines_of(render(data))
    chooser = [line for line in lines if "set-var(txn.lb_rule)" in line]
    assert chooser == ["http-request set-var(txn.lb_rule) int(0) if rule0_c0",
                       "http-request set-var(txn.lb_rule) int(1) if !{ var(txn.lb_rule) -m found } rule1_c0",
                       "http-request set-var(txn.lb_rule) int(2) if !{ var(txn.lb_rule) -m found } rule2_c0"]
    assert "acl rule0_c0 path -m reg '^(/api/.*)$'" in lines
    assert (f"http-request return status 418 content-type 'text/plain' file {DIR}/bodies/listener-80-1 "
            "if { var(txn.lb_rule) -m int eq 1 }") in lines
    assert "use_backend tg-api-tg-0123456789abcdef if { var(txn.lb_rule) -m int eq 0 }" in lines
    assert lines.index("use_backend tg-web-tg-73e2d6bc24d8a067 if !{ var(txn.lb_rule) -m found }") > lines.index(
        "use_backend tg-api-tg-0123456789abcdef if { var(txn.lb_rule) -m int eq 0 }")
    assert render(data).files["bodies/listener-80-1"] == "I'm a teapot"


def test_conditions_of_a_rule_are_anded_values_ored() -> None:
    data = node()
    data["listeners"][0]["rules"][0]["conditions"] = [
        {"field": "host-header", "values": ["*.example.com", "api.test"]},
        {"field": "http-request-method", "values": ["GET", "HEAD"]}]
    lines = lines_of(render(data))
    assert "acl rule0_c0 req.hdr(host),field(1,:) -m reg -i '^(.*\\x2eexample\\x2ecom|api\\x2etest)$'" in lines
    assert "acl rule0_c1 method GET HEAD" in lines
    assert "http-request set-var(txn.lb_rule) int(0) if rule0_c0 rule0_c1" in lines


@pytest.mark.parametrize(("pattern", "matching", "not_matching"), [
    ("/api/*", ["/api/", "/api/v1/x"], ["/api", "/API/x", "/x/api/"]),
    ("/img/?.png", ["/img/a.png"], ["/img/ab.png", "/img/aXpng"]),
    ("/a+b(c)", ["/a+b(c)"], ["/aab(c)", "/a+bc"]),
    ("*", ["/", "/anything"], []),
])
def test_wildcards_become_anchored_regexes(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    regex = re.compile("^(" + haproxy_match.wildcard_regex(pattern) + ")$")
    assert all(regex.match(path) for path in matching)
    assert not any(regex.match(path) for path in not_matching)


def test_no_value_can_leave_its_quotes() -> None:
    evil = "x' } use_backend other if TRUE #\n$HOME\\"
    condition = Condition(field="path-pattern", values=[evil])
    (acl,) = haproxy_match.condition_acls("c", condition)
    body = acl.split("'")[1]
    assert acl.count("'") == 2 and re.fullmatch(r"\^\(([A-Za-z0-9/_-]|\\x[0-9a-f]{2})*\)\$", body)
    assert re.compile(body).match(evil)


def test_header_query_and_source_conditions() -> None:
    header = haproxy_match.condition_acls("h", Condition(field="http-header", header_name="X-Env", values=["be?a"]))
    assert header == ["acl h req.fhdr(X-Env) -m reg -i '^(be.a)$'"]
    query = haproxy_match.condition_acls("q", Condition(field="query-string", query=[
        QueryPair(key="version", value="v1"), QueryPair(key=None, value="x*")]))
    assert query == ["acl q query -m reg -i '(^|&)(version=v1|[^&=]*=x[^&]*)(&|$)'"]
    regex = re.compile(query[0].split("'")[1], re.I)
    assert regex.search("a=1&Version=V1") and regex.search("foo=xyz") and not regex.search("version=v10")
    source = haproxy_match.condition_acls("s", Condition(field="source-ip", values=["10.0.0.0/16", "192.0.2.7/32"]))
    assert source == ["acl s src 10.0.0.0/16 192.0.2.7/32"]


def test_redirect_resolves_placeholders() -> None:
    lines = lines_of(render(node()))
    with_query = next(line for line in lines if "redirect" in line and "query -m len" in line)
    assert with_query.startswith("http-request redirect location "
                                 "'http://%[req.hdr(host),field(1,:)]/new/%[path,bytes(1)]?%[query]' code 301")
    data = node()
    data["listeners"][0]["rules"][2]["actions"] = [{
        "type": "redirect", "protocol": "HTTPS", "host": "secure.example.com", "port": "8443", "path": "/a b/#{path}",
        "query": "from=#{host}", "status_code": "HTTP_302"}]
    (line,) = [line for line in lines_of(render(data)) if "redirect" in line]
    assert line == ("http-request redirect location 'https://secure.example.com:8443/a%%20b/%[path,bytes(1)]"
                    "?from=%[req.hdr(host),field(1,:)]' code 302 if { var(txn.lb_rule) -m int eq 2 }")


def test_weighted_forward_splits_one_random_pick() -> None:
    data = node()
    data["listeners"][0]["default_actions"] = [forward((TG_A, 1), (TG_B, 3))]
    lines = lines_of(render(data))
    assert "http-request set-var(txn.lb_pick) rand(1000000)" in lines
    assert ("use_backend tg-web-tg-73e2d6bc24d8a067 if !{ var(txn.lb_rule) -m found } "
            "{ var(txn.lb_pick) -m int lt 250000 }") in lines
    assert "use_backend tg-api-tg-0123456789abcdef if !{ var(txn.lb_rule) -m found }" in lines
    data["listeners"][0]["default_actions"] = [forward((TG_A, 0), (TG_B, 0))]
    assert any(line.startswith("http-request return status 503") and "!{ var(txn.lb_rule) -m found }" in line
               for line in lines_of(render(data)))


def test_backend_health_checks_and_balance() -> None:
    data = node()
    check = data["target_groups"][0]["health_check"]
    check.update(port="8081", matcher="200,202,300-399")
    data["target_groups"][0]["load_balancing_algorithm"] = "least_outstanding_requests"
    lines = lines_of(render(data))
    start = lines.index("backend tg-web-tg-73e2d6bc24d8a067")
    backend = lines[start:lines.index("", start)]
    assert "balance leastconn" in backend and "option httpchk" in backend
    assert (f"http-check send meth GET uri '/health' ver HTTP/1.1 hdr Host {data['ip']} "
            "hdr User-Agent ELB-HealthChecker/2.0") in backend  # HTTP/1.1 servers such as nginx need a Host
    assert "http-check expect rstatus '^(200|202|3[0-9][0-9])$'" in backend
    assert "timeout check 2s" in backend and "default-server inter 5s fall 2 rise 2" in backend
    assert "server i-0aaaaaaaaaaaaaaa1:8000 10.0.1.5:8000 check port 8081" in backend


@pytest.mark.parametrize(("matcher", "codes"), [("200", {200}), ("200-299", set(range(200, 300))),
                                                 ("200,202", {200, 202}), ("201-215,404", {*range(201, 216), 404})])
def test_status_regex_matches_exactly_the_matcher(matcher: str, codes: set[int]) -> None:
    regex = re.compile(haproxy_match.status_regex(matcher).strip("'"))
    assert {code for code in range(100, 600) if regex.match(str(code))} == codes


def test_stickiness_draining_tls_targets_and_disabled_checks() -> None:
    data = node()
    group = data["target_groups"][0]
    group["stickiness"] = {"enabled": True, "type": "lb_cookie", "duration_seconds": 600}
    group["targets"][1]["draining"] = True
    group["protocol"] = "HTTPS"
    data["target_groups"][1]["health_check"]["enabled"] = False
    lines = lines_of(render(data))
    assert "cookie AWSALB insert indirect nocache maxlife 600s" in lines
    draining = next(line for line in lines if line.startswith("server i-0aaaaaaaaaaaaaaa2"))
    assert draining.endswith(" disabled") and " ssl verify none check no-check-ssl cookie " in draining
    assert "server 10.0.1.7:8001 10.0.1.7:8001" in lines  # no check


def test_every_checked_target_but_a_draining_one_has_a_fail_open_backup() -> None:
    data = node()
    data["target_groups"][0]["targets"][1]["draining"] = True
    data["target_groups"][1]["health_check"]["enabled"] = False
    lines = lines_of(render(data))
    backups = [line for line in lines if line.endswith(" backup")]
    assert backups == ["server fo-i-0aaaaaaaaaaaaaaa1:8000 10.0.1.5:8000 backup"]
    first = next(n for n, line in enumerate(lines) if line.startswith("backend tg-"))
    assert "option allbackups" in lines[first:lines.index(backups[0])]
    assert lines.count("option allbackups") == 1  # not in the unchecked group: it is never down


def test_https_listener_writes_its_certificate_and_udp_is_skipped() -> None:
    data = node()
    data["listeners"].append({"port": 443, "protocol": "HTTPS", "certificate_pem": CERT, "private_key_pem": KEY,
                              "default_actions": [forward((TG_A, 1))], "rules": []})
    data["listeners"].append({"port": 8443, "protocol": "HTTPS", "default_actions": [forward((TG_A, 1))]})
    rendered = render(data)
    assert f"bind 10.0.1.20:443 ssl crt {DIR}/tls/listener-443.pem alpn h2,http/1.1" in lines_of(rendered)
    assert rendered.files["tls/listener-443.pem"] == CERT + "\n" + KEY + "\n"
    assert "X-Forwarded-Proto https" in rendered.config
    assert rendered.skipped == ("HTTPS 8443: no certificate",)
    nlb = node(type="network", listeners=[
        {"port": 53, "protocol": "UDP", "default_actions": [forward((TG_A, 1))]},
        {"port": 5432, "protocol": "TCP", "default_actions": [forward((TG_A, 1))]}])
    rendered = render(nlb)
    assert rendered.skipped == ("UDP 53: HAProxy does not forward UDP",)
    lines = lines_of(rendered)
    start = lines.index("frontend listener-5432")
    assert lines[start:start + 4] == ["frontend listener-5432", "bind 10.0.1.20:5432", "mode tcp",
                                      "default_backend tg-web-tg-73e2d6bc24d8a067"]
    assert "mode tcp" in lines[lines.index("backend tg-web-tg-73e2d6bc24d8a067") + 1]


def test_rendering_is_deterministic() -> None:
    assert render(node()) == render(node())


# --- HAProxy itself accepts what is generated (no root needed: -c binds nothing) ------------------------------


def _self_signed(directory: Path) -> tuple[str, str]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lb.test", "-days", "1",
                    "-keyout", str(directory / "k.pem"), "-out", str(directory / "c.pem")], check=True,
                   capture_output=True)
    return (directory / "c.pem").read_text(), (directory / "k.pem").read_text()


def _everything() -> list[dict[str, Any]]:
    full = node()
    rules = full["listeners"][0]["rules"]
    rules.append({"priority": 40, "conditions": [
        {"field": "host-header", "values": ["*.example.com"]},
        {"field": "http-header", "header_name": "X-Env", "values": ["beta", "g?mma"]},
        {"field": "http-request-method", "values": ["GET", "HEAD"]},
        {"field": "query-string", "query": [{"key": "v", "value": "1"}, {"key": None, "value": "*x*"}]},
        {"field": "source-ip", "values": ["10.0.0.0/16"]}], "actions": [forward((TG_A, 2), (TG_B, 5))]})
    rules.append({"priority": 50, "conditions": [{"field": "path-pattern", "values": ["/empty"]}],
                  "actions": [{"type": "fixed-response", "status_code": "204"}]})
    rules.append({"priority": 60, "conditions": [{"field": "path-pattern", "values": ["/none"]}],
                  "actions": [forward((TG_A, 0))]})
    full["target_groups"][0]["stickiness"]["enabled"] = True
    full["target_groups"][0]["targets"][0]["draining"] = True
    full["target_groups"][1]["health_check"].update(protocol="HTTPS", port="9443")
    full["target_groups"][1]["load_balancing_algorithm"] = "weighted_random"
    nlb = node(type="network", listeners=[{"port": 5432, "protocol": "TCP", "default_actions": [forward((TG_A, 1))]},
                                          {"port": 53, "protocol": "TCP_UDP", "default_actions": [forward((TG_B, 1))]}])
    nlb["target_groups"][0]["health_check"]["protocol"] = "TCP"
    nlb["target_groups"][1]["stickiness"] = {"enabled": True, "type": "source_ip", "duration_seconds": 60}
    return [full, nlb, node(listeners=[], target_groups=[])]


@pytest.mark.skipif(shutil.which("haproxy") is None or shutil.which("openssl") is None,
                    reason="haproxy (and openssl) not installed")
@pytest.mark.parametrize("case", range(3))
def test_haproxy_accepts_the_generated_configuration(tmp_path: Path, case: int) -> None:
    data = _everything()[case]
    if case == 0:
        cert, key = _self_signed(tmp_path)
        data["listeners"].append({"port": 443, "protocol": "HTTPS", "certificate_pem": cert, "private_key_pem": key,
                                  "default_actions": [forward((TG_A, 1))], "rules": []})
    rendered = haproxy_config.render(parse({"nodes": [data]}).nodes[0], str(tmp_path), None)
    for relative, text in rendered.files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "haproxy.cfg").write_text(rendered.config)
    (tmp_path / haproxy_config.SERVER_STATE).write_text(haproxy_config.NO_SERVER_STATE)  # as the agent starts it
    out = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stdout + out.stderr, out.stdout + out.stderr
