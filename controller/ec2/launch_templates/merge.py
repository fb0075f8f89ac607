"""RunInstances from a launch template: the template's data is the base, the request's own parameters win.

AWS: "When you launch an instance using a launch template, you can override parameters that are specified in
the launch template. Or, you can specify additional parameters that are not in the launch template. You cannot
remove launch template parameters during launch." So a parameter is overridden, never erased:

- a structure (Placement, MetadataOptions, CreditSpecification...) merges member by member, recursively;
- BlockDeviceMappings merge by DeviceName and NetworkInterfaces by DeviceIndex (the request's entry for a
  device replaces the template's entry for it, other entries of both are kept);
- TagSpecifications merge by ResourceType, then by tag key (the request's value wins);
- anything else (a scalar, another list) is the request's when the request gives it.

The result is plain RunInstances input, checked by RunInstances like any other: a template with network
interfaces plus a request-level SubnetId gives AWS's InvalidParameterCombination there, as in AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.ec2.launch_templates.shapes import run_instances_params

Params = dict[str, Any]

#: The key that identifies an entry of a list the request merges into the template's.
_LIST_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "BlockDeviceMappings": lambda entry: entry.get("DeviceName"),
    "NetworkInterfaces": lambda entry: int(entry.get("DeviceIndex") or 0),
}


def merge(template_data: Mapping[str, Any], params: Mapping[str, Any]) -> Params:
    """RunInstances parameters from request-shape template data and the request's own parameters (the
    ``LaunchTemplate`` member is dropped: what it named is now in the result)."""
    base = run_instances_params(template_data)
    request = {k: v for k, v in params.items() if k != "LaunchTemplate" and v is not None}
    merged: Params = dict(base)
    for name, value in request.items():
        if name not in base:
            merged[name] = value
        elif name == "TagSpecifications":
            merged[name] = _merge_tag_specifications(base[name], value)
        elif name in _LIST_KEYS and isinstance(value, list):
            merged[name] = _merge_keyed(base[name], value, _LIST_KEYS[name])
        else:
            merged[name] = _merge_value(base[name], value)
    return merged


def _merge_value(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for name, value in override.items():
            if value is not None:
                merged[name] = _merge_value(base.get(name), value)
        return merged
    return override


def _merge_keyed(base: list[Any], override: list[Any], key: Callable[[Mapping[str, Any]], Any]) -> list[Any]:
    replaced = {key(entry) for entry in override}
    return [entry for entry in base if key(entry) not in replaced] + list(override)


def _merge_tag_specifications(base: list[Mapping[str, Any]], override: list[Mapping[str, Any]]) -> list[Params]:
    by_type: dict[str, dict[str, str]] = {}
    for spec in [*base, *override]:
        tags = by_type.setdefault(spec.get("ResourceType") or "", {})
        for tag in spec.get("Tags") or []:
            tags[tag.get("Key")] = tag.get("Value") or ""
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for resource_type, tags in by_type.items()]
