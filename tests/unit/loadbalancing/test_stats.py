"""``show stat`` as the controller's report: target health in AWS's words, counters as deltas."""

from __future__ import annotations

from typing import Any

import pytest

from agent.contract.loadbalancers import parse
from agent.loadbalancing import stats
from agent.loadbalancing.reporter import Reporter
from tests.unit.loadbalancing.sample import LB_ARN, TG_A, TG_B, node

#: HAProxy 2.6's header (the columns the report reads are all there; the rest are kept to stay realistic).
HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
          "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,"
          "rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
          "hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,"
          "lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,"
          "agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,"
          "conn_rate,conn_rate_max,conn_tot,")
COLUMNS = HEADER[2:].rstrip(",").split(",")


def csv(*rows: dict[str, Any]) -> str:
    lines = [HEADER]
    for row in rows:
        lines.append(",".join(str(row.get(column, "")) for column in COLUMNS) + ",")
    return "\n".join(lines) + "\n\n"


def frontend(pid: int = 7, **values: Any) -> dict[str, Any]:
    return {"pxname": "listener-80", "svname": "FRONTEND", "status": "OPEN", "pid": pid, **values}


def server(backend: str, name: str, status: str = "UP", check: str = "L7OK", code: Any = 200, pid: int = 7,
           **values: Any) -> dict[str, Any]:
    return {"pxname": backend, "svname": name, "status": status, "check_status": check, "check_code": code,
            "pid": pid, **values}


A, B = "tg-web-tg-73e2d6bc24d8a067", "tg-api-tg-0123456789abcdef"
NODE = parse({"nodes": [node()]}).nodes[0]


def test_parse_csv_reads_rows_by_column() -> None:
    rows = stats.parse_csv(csv(frontend(req_tot=3)))
    assert rows[0]["pxname"] == "listener-80" and rows[0]["req_tot"] == "3"
    with pytest.raises(ValueError):
        stats.parse_csv("Unknown command\n")


@pytest.mark.parametrize(("row", "expected"), [
    (server(A, "x", "UP", "L7OK"), ("healthy", None)),
    (server(A, "x", "UP 1/2", "L4CON", ""), ("healthy", None)),  # one failure: still in service
    (server(A, "x", "UP", "INI", ""), ("initial", "Elb.InitialHealthChecking")),
    (server(A, "x", "DOWN", "L7STS", 500), ("unhealthy", "Target.ResponseCodeMismatch")),
    (server(A, "x", "DOWN", "L4TOUT", ""), ("unhealthy", "Target.Timeout")),
    (server(A, "x", "DOWN", "* L7TOUT", ""), ("unhealthy", "Target.Timeout")),
    (server(A, "x", "DOWN", "L4CON", ""), ("unhealthy", "Target.FailedHealthChecks")),
    (server(A, "x", "DOWN 1/2", "L7OK", 200), ("unhealthy", "Target.FailedHealthChecks")),
    (None, ("initial", "Elb.InitialHealthChecking")),
])
def test_check_status_maps_to_target_health(row: dict[str, Any] | None, expected: tuple[str, str | None]) -> None:
    parsed = stats.parse_csv(csv(row))[0] if row else None
    state, reason, description = stats.health_of(parsed, draining=False, checked=True)
    assert (state, reason) == expected
    if reason == "Target.ResponseCodeMismatch":
        assert description == "Health checks failed with these codes: [500]"


def test_draining_and_unchecked_targets() -> None:
    assert stats.health_of(None, draining=True, checked=True)[:2] == ("draining", "Target.DeregistrationInProgress")
    assert stats.health_of(None, draining=False, checked=False)[:2] == ("unavailable", "Target.HealthCheckDisabled")


def test_target_health_lists_every_target_of_the_node() -> None:
    rows = stats.parse_csv(csv(server(A, "i-0aaaaaaaaaaaaaaa1:8000"),
                               server(A, "i-0aaaaaaaaaaaaaaa2:8000", "DOWN", "L7STS", 404),
                               server(B, "10.0.1.7:8001", "UP", "INI", "")))
    health = stats.target_health(NODE, rows)
    assert [(t["target_group_arn"], t["id"], t["port"], t["state"]) for t in health] == [
        (TG_A, "i-0aaaaaaaaaaaaaaa1", 8000, "healthy"), (TG_A, "i-0aaaaaaaaaaaaaaa2", 8000, "unhealthy"),
        (TG_B, "10.0.1.7", 8001, "initial")]


def _rows(pid: int, requests: int, ok: int, errors: int, target_ok: int, target_errors: int, rtime: int = 20
          ) -> list[dict[str, str]]:
    return stats.parse_csv(csv(
        frontend(pid, req_tot=requests, hrsp_2xx=ok, hrsp_5xx=errors, conn_tot=requests, scur=2, bin=100 * requests,
                 bout=1000 * requests),
        {"pxname": A, "svname": "BACKEND", "pid": pid, "hrsp_2xx": target_ok},
        server(A, "i-0aaaaaaaaaaaaaaa1:8000", pid=pid, hrsp_2xx=target_ok, hrsp_5xx=target_errors, rtime=rtime)))


def test_counters_are_deltas_and_restart_from_zero_after_a_reload() -> None:
    first = stats.snapshot(_rows(7, 10, 8, 2, 8, 1))
    assert set(stats.deltas(None, first).values()) <= {0, 2}  # a baseline only (active connections: 2)
    second = stats.snapshot(_rows(7, 15, 12, 3, 12, 1, rtime=40))
    delta = stats.deltas(first, second)
    assert delta["requests"] == 5 and delta["http_2xx"] == 4 and delta["http_5xx"] == 1
    assert delta["target_2xx"] == 4 and delta["target_5xx"] == 0 and delta["elb_5xx"] == 1
    assert delta["target_responses"] == 4 and delta["target_response_time_sum_seconds"] == pytest.approx(0.16)
    assert delta["new_connections"] == 5 and delta["processed_bytes"] == 5 * 1100 and delta["active_connections"] == 2
    assert set(delta) == set(stats.COUNTERS)
    reloaded = stats.snapshot(_rows(8, 3, 3, 0, 3, 0))  # a new worker counts from zero
    assert stats.deltas(second, reloaded)["requests"] == 3


class FakeReconciler:
    def __init__(self) -> None:
        self.nodes = {NODE.interface_id: NODE}


def test_reporter_sends_on_health_change_and_keeps_deltas_until_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = iter([_rows(7, 10, 10, 0, 10, 0), _rows(7, 12, 12, 0, 12, 0), _rows(7, 14, 14, 0, 14, 0),
                    _rows(7, 20, 20, 0, 20, 0)])
    reporter = Reporter(FakeReconciler(), lambda report: None, report_seconds=5)
    monkeypatch.setattr(reporter, "collect", lambda: _collect(reporter, next(outputs)))
    sent: list[dict[str, Any]] = []
    refuse = [False]

    def send(report: dict[str, Any]) -> None:
        if refuse[0]:
            raise OSError("controller away")
        sent.append(report)

    reporter.send = send
    assert reporter.round(now=100.0)  # health is news: sent at once (counters: a baseline)
    assert sent[0]["nodes"][0]["load_balancer_arn"] == LB_ARN and sent[0]["nodes"][0]["counters"]["requests"] == 0
    assert not reporter.round(now=101.0)  # nothing changed, period not over
    refuse[0] = True
    assert not reporter.round(now=106.0)  # refused: the baseline stays
    refuse[0] = False
    assert reporter.round(now=112.0)
    assert sent[-1]["nodes"][0]["counters"]["requests"] == 10  # 20 - 10: nothing lost while refused


def _collect(reporter: Reporter, rows: list[dict[str, str]]) -> tuple[dict[str, Any], dict[str, stats.Snapshot]]:
    shot = stats.snapshot(rows)
    report = stats.node_report(NODE, rows, stats.deltas(reporter.baselines.get(NODE.interface_id), shot))
    return {"nodes": [report]}, {NODE.interface_id: shot}
