"""AWS managed policies (``arn:aws:iam::aws:policy/...``), shipped as JSON in ``aws_policies/``.

They are the same in every account, cannot be changed or deleted, and are attached by
ARN like customer managed policies. Each file holds what GetPolicy and
GetPolicyVersion return, with the document AWS publishes (ReadOnlyAccess trimmed to the
services Cloudlet implements).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("aws_policies")


@dataclass(frozen=True)
class AwsManagedPolicy:
    name: str
    policy_id: str
    path: str
    description: str
    default_version: str
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The default version's document, as JSON text (pretty-printed as AWS returns it).
    document: str

    def arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::aws:policy{self.path}{self.name}"


@cache
def aws_managed_policies() -> dict[str, AwsManagedPolicy]:
    """Every shipped AWS managed policy, by ``path + name`` (what follows ``policy`` in the ARN)."""
    found: dict[str, AwsManagedPolicy] = {}
    for file in sorted(DATA_DIR.glob("*.json")):
        data = json.loads(file.read_text())
        policy = AwsManagedPolicy(
            name=data["PolicyName"], policy_id=data["PolicyId"], path=data["Path"],
            description=data["Description"], default_version=data["DefaultVersionId"],
            created_at=dt.datetime.fromisoformat(data["CreateDate"]),
            updated_at=dt.datetime.fromisoformat(data["UpdateDate"]),
            document=json.dumps(data["Document"], indent=4))
        found[policy.path + policy.name] = policy
    return found


def aws_managed_policy(arn: str, partition: str) -> AwsManagedPolicy | None:
    """The AWS managed policy ``arn`` names, or None (also for ARNs of other partitions)."""
    prefix = f"arn:{partition}:iam::aws:policy"
    if not arn.startswith(prefix):
        return None
    return aws_managed_policies().get(arn[len(prefix):])


def is_aws_managed_arn(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "iam" and parts[4] == "aws"
