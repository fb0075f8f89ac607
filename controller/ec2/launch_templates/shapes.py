"""Moving launch template data between the model's shapes, driven by botocore's EC2 model.

A version is stored as RequestLaunchTemplateData. DescribeLaunchTemplateVersions answers with
ResponseLaunchTemplateData, and RunInstances takes its own input shape: the members mostly share names, but
not all of them exist on every side (RunInstances calls ``RamDiskId`` ``RamdiskId`` and has no
``InstanceRequirements``; response shapes carry members no request has). :func:`convert` walks the target
shape and keeps what both sides define, so a member the model adds later is carried over, or dropped, without
a hand-written mapping going stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from controller.protocol.models import load_service_model

REQUEST_DATA, RESPONSE_DATA = "RequestLaunchTemplateData", "ResponseLaunchTemplateData"
#: Template data members whose RunInstances member has another name.
RUN_INSTANCES_NAMES = {"RamDiskId": "RamdiskId", "ElasticGpuSpecifications": "ElasticGpuSpecification"}


def shape(name: str) -> Shape:
    return load_service_model("ec2").shape_for(name)


def run_instances_input() -> Shape:
    return load_service_model("ec2").operation_model("RunInstances").input_shape


def convert(value: Any, source: Shape, target: Shape, renames: Mapping[str, str] | None = None) -> Any:
    """``value`` (of ``source``'s shape) as a value of ``target``'s shape: structure members are matched by
    name (``renames`` maps names at this level only), members ``target`` lacks are dropped, lists convert
    item by item, scalars stay as they are."""
    if source.type_name == "structure" and target.type_name == "structure" and isinstance(value, Mapping):
        names = renames or {}
        converted = {}
        for name, item in value.items():
            target_name = names.get(name, name)
            if item is None or name not in source.members or target_name not in target.members:
                continue
            converted[target_name] = convert(item, source.members[name], target.members[target_name])
        return converted
    if source.type_name == "list" and target.type_name == "list" and isinstance(value, list):
        return [convert(item, source.member, target.member) for item in value]
    return value


def response_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored template data as DescribeLaunchTemplateVersions shows it."""
    return convert(data, shape(REQUEST_DATA), shape(RESPONSE_DATA))


def run_instances_params(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored template data as RunInstances parameters."""
    return convert(data, shape(REQUEST_DATA), run_instances_input(), RUN_INSTANCES_NAMES)
