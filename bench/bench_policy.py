"""How many authorization decisions per second the policy engine makes.

The target principal has 10 identity policies of 20 statements each (mixed services,
wildcard actions and resources, conditions, policy variables, a few denies), plus a
permissions boundary; requests cycle through actions that are allowed, denied and not
covered. Documents are parsed once, as the API keeps them; each run evaluates the
request mix from scratch (a fresh context per request, as the enforcement layer does).
Rates are computed from the process's CPU time, so other work on the machine doesn't
skew them; the wall-clock median is printed too.

    .venv/bin/python bench/bench_policy.py [--requests 20000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import report  # also puts the repository on sys.path

from controller.iam.policy import (
    EvaluationRequest,
    PolicySet,
    evaluate,
    parse_policy,
)

ACCOUNT = "111122223333"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
SERVICES = ["s3", "ec2", "iam", "dynamodb", "sqs", "sns", "lambda", "kms", "logs", "cloudwatch"]
VERBS = ["Get", "List", "Describe", "Put", "Create", "Delete", "Update", "Start", "Stop", "Tag"]


def statement(policy_index: int, index: int) -> dict:
    """A varied but deterministic statement: the shapes real customer policies use."""
    service = SERVICES[(policy_index + index) % len(SERVICES)]
    verb = VERBS[index % len(VERBS)]
    shape = index % 5
    region = "" if service == "iam" else "us-east-1"
    body: dict = {"Sid": f"P{policy_index}S{index}", "Effect": "Deny" if index == 19 else "Allow"}
    if shape == 0:
        body["Action"] = [f"{service}:{verb}*", f"{service}:{VERBS[(index + 3) % 10]}Thing"]
        body["Resource"] = f"arn:aws:{service}:{region}:{ACCOUNT}:thing/team-{policy_index}/*"
    elif shape == 1:
        body["Action"] = f"{service}:{verb}Resource{index}"
        body["Resource"] = "*"
        body["Condition"] = {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}
    elif shape == 2:
        body["Action"] = [f"{service}:{verb}Item", f"{service}:Batch{verb}Item"]
        body["Resource"] = [f"arn:aws:{service}:{region}:{ACCOUNT}:table/app-{policy_index}",
                            f"arn:aws:{service}:{region}:{ACCOUNT}:table/app-{policy_index}/index/*"]
        body["Condition"] = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]},
                             "Bool": {"aws:SecureTransport": "true"}}
    elif shape == 3:
        body["Action"] = f"{service}:*"
        body["Resource"] = f"arn:aws:{service}:::home/${{aws:username}}/*"
    else:
        body["NotAction"] = [f"{service}:Delete*", "iam:*"] if body["Effect"] == "Allow" else f"{service}:Get*"
        body["Resource"] = f"arn:aws:{service}:{region}:*:shared-{policy_index}/*"
        body["Condition"] = {"ForAllValues:StringLike": {"aws:TagKeys": ["env", "team-*"]},
                             "NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}
    return body


def policies() -> PolicySet:
    identity = [parse_policy(json.dumps({"Version": "2012-10-17",
                                         "Statement": [statement(p, s) for p in [p] for s in range(20)]}, indent=2),
                             policy_id=f"Policy{p}", source_type="user-managed")
                for p in range(10)]
    boundary = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": [f"{service}:*" for service in SERVICES[:8]], "Resource": "*"}]}))
    return PolicySet(identity=identity, permissions_boundary=[boundary])


def requests() -> list[EvaluationRequest]:
    context = {"aws:username": "alice", "aws:RequestedRegion": "us-east-1", "aws:SourceIp": "203.0.113.9",
               "aws:SecureTransport": "true", "aws:TagKeys": ["env", "team-web"], "aws:PrincipalType": "User",
               "aws:CurrentTime": "2024-05-01T12:00:00Z"}
    mix = []
    for index in range(200):
        service = SERVICES[index % len(SERVICES)]
        verb = VERBS[(index // 10) % len(VERBS)]
        kind = index % 4
        region = "" if service == "iam" else "us-east-1"
        if kind == 0:
            action, resource = f"{service}:{verb}Something", f"arn:aws:{service}:{region}:{ACCOUNT}:thing/team-3/x"
        elif kind == 1:
            action, resource = f"{service}:{verb}Item", f"arn:aws:{service}:{region}:{ACCOUNT}:table/app-{index % 10}"
        elif kind == 2:
            action, resource = f"{service}:{verb}Object", f"arn:aws:{service}:::home/alice/file{index}"
        else:
            action, resource = f"{service}:Other{index}", "*"
        mix.append(EvaluationRequest(action=action, resource=resource, principal_arn=USER,
                                     principal_account=ACCOUNT, context=context))
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    policy_set = policies()
    mix = requests()
    decisions: dict[str, int] = {}
    for request in mix:
        decision = evaluate(request, policy_set).decision
        decisions[decision] = decisions.get(decision, 0) + 1
    wall_rates, cpu_rates = [], []
    for _ in range(args.runs):
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(args.requests):
            evaluate(mix[index % len(mix)], policy_set)
        wall_rates.append(args.requests / (time.perf_counter() - wall))
        cpu_rates.append(args.requests / (time.process_time() - cpu))
    print(f"principal: 10 policies x 20 statements + boundary; request mix decisions: {decisions}")
    print(f"runs (CPU time): {', '.join(f'{rate:,.0f}' for rate in cpu_rates)} evaluations/s")
    cpu_median, wall_median = statistics.median(cpu_rates), statistics.median(wall_rates)
    print(f"median: {cpu_median:,.0f} evaluations/s per core ({1e6 / cpu_median:.1f} us per evaluation); "
          f"wall-clock median {wall_median:,.0f}/s")
    report("policy engine, 10 policies x 20 statements + boundary: evaluations per second of CPU time",
           cpu_median, "eval/s", us_per_evaluation=1e6 / cpu_median, wall_clock_eval_per_s=wall_median,
           decisions=decisions)


if __name__ == "__main__":
    main()
