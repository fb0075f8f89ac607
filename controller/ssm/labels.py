"""LabelParameterVersion and UnlabelParameterVersion: AWS's label rules.

A label names one version of a parameter: labelling another version with it moves it there. Labels that
break the naming rules (:func:`controller.ssm.names.valid_label`) are not an error: they come back in
``InvalidLabels`` while the valid ones are attached. A version carries at most 10 labels.
"""

from __future__ import annotations

from sqlalchemy import update

from controller.api import Params, RequestContext
from controller.errors import error
from controller.ssm import names, records
from controller.ssm.service import api
from controller.ssm.state import versions
from controller.ssm.writes import name_arns

ParameterVersionLabelLimitExceeded = error("ParameterVersionLabelLimitExceeded")


def relabel(current: dict[int, list[str]], version: int, labels: list[str]) -> dict[int, list[str]]:
    """Pure: each version's labels once ``labels`` are attached to ``version`` (moved off any other version)."""
    moved = {number: [label for label in attached if label not in labels or number == version]
             for number, attached in current.items()}
    moved[version] = moved[version] + [label for label in labels if label not in moved[version]]
    return moved


def _owned_versions(ctx: RequestContext, name: str) -> dict[int, list[str]]:
    with ctx.cloud.db.read() as conn:
        if records.find(conn, ctx, name) is None:
            raise records.ParameterNotFound(f"Parameter {name} not found.")
        return {row["version"]: list(row["labels"]) for row in records.version_rows(conn, ctx, name)}


def _version_of(current: dict[int, list[str]], name: str, version: int | None) -> int:
    chosen = max(current) if version is None else version
    if chosen not in current:
        raise records.ParameterVersionNotFound(f"Systems Manager could not find version {chosen} of {name}. "
                                               "Verify the version and try again.")
    return chosen


def _save(ctx: RequestContext, name: str, before: dict[int, list[str]], after: dict[int, list[str]]) -> None:
    with ctx.cloud.db.begin() as conn:
        for number, labels in after.items():
            if labels != before[number]:
                conn.execute(update(versions).where(
                    versions.c.account_id == ctx.account_id, versions.c.region == ctx.region,
                    versions.c.name == name, versions.c.version == number).values(labels=labels))


@api.operation("LabelParameterVersion", resources=name_arns)
def label_parameter_version(ctx: RequestContext, params: Params) -> Params:
    name = records.own_name(ctx, params["Name"])
    current = _owned_versions(ctx, name)
    version = _version_of(current, name, params.get("ParameterVersion"))
    labels = list(dict.fromkeys(params["Labels"]))
    names.check_label_lengths(labels)
    invalid = [label for label in labels if not names.valid_label(label)]
    after = relabel(current, version, [label for label in labels if label not in invalid])
    if len(after[version]) > names.MAX_LABELS_PER_VERSION:
        raise ParameterVersionLabelLimitExceeded("A parameter version can have maximum 10 labels.Move one or more "
                                                 "labels to another version and try again.")
    _save(ctx, name, current, after)
    return {"InvalidLabels": invalid, "ParameterVersion": version}


@api.operation("UnlabelParameterVersion", resources=name_arns)
def unlabel_parameter_version(ctx: RequestContext, params: Params) -> Params:
    name = records.own_name(ctx, params["Name"])
    current = _owned_versions(ctx, name)
    version = _version_of(current, name, params["ParameterVersion"])
    labels = list(dict.fromkeys(params["Labels"]))
    removed = [label for label in labels if label in current[version]]
    after = {**current, version: [label for label in current[version] if label not in removed]}
    _save(ctx, name, current, after)
    return {"RemovedLabels": removed, "InvalidLabels": [label for label in labels if label not in removed]}
