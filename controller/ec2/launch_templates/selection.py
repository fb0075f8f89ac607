"""Which versions a request names: ``$Latest``, ``$Default``, numbers, and MinVersion/MaxVersion ranges.

Pure functions over a template's existing version numbers, so every operation that takes a ``Version``
(RunInstances, CreateLaunchTemplateVersion's SourceVersion, DescribeLaunchTemplateVersions, ModifyLaunchTemplate,
DeleteLaunchTemplateVersions) reads it the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from controller.ec2.errors import InvalidParameterValue
from controller.errors import ServiceError, error

VersionNotFound = error("InvalidLaunchTemplateId.VersionNotFound")
LATEST, DEFAULT = "$Latest", "$Default"


def version_not_found(version: object, template_id: str) -> ServiceError:
    return VersionNotFound(f"Could not find the specified version {version} for the launch template with ID "
                           f"{template_id}.")


def version_number(spec: str | int) -> int | None:
    """A version given as a number (``"3"`` or 3); None for ``$Latest``/``$Default``; InvalidParameterValue
    for anything else."""
    text = str(spec).strip()
    if text.lower() in (LATEST.lower(), DEFAULT.lower()):
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameterValue(f"The launch template version '{spec}' is not valid: specify a version "
                                    f"number, {LATEST} or {DEFAULT}.")
    return int(text)


def resolve(spec: str | int | None, existing: Collection[int], default: int, template_id: str) -> int:
    """The version number ``spec`` stands for (no spec: the default version, as RunInstances reads it)."""
    if spec is None or str(spec).strip().lower() == DEFAULT.lower():
        return default
    number = version_number(spec)
    if number is None:  # $Latest: the highest version that still exists
        return max(existing)
    if number not in existing:
        raise version_not_found(spec, template_id)
    return number


def select(existing: Collection[int], default: int, template_id: str, versions: Sequence[str | int] | None,
           min_version: str | int | None = None, max_version: str | int | None = None) -> list[int]:
    """The versions DescribeLaunchTemplateVersions lists, newest first: those named (every one must exist),
    else all of them, narrowed to MinVersion..MaxVersion (both inclusive; the model sends them as text)."""
    chosen = {resolve(v, existing, default, template_id) for v in versions} if versions else set(existing)
    low = 0 if min_version is None else _bound(min_version)
    high = max(existing, default=0) if max_version is None else _bound(max_version)
    return sorted((v for v in chosen if low <= v <= high), reverse=True)


def _bound(value: str | int) -> int:
    number = version_number(value)
    if number is None:
        raise InvalidParameterValue(f"The version bound '{value}' is not valid: specify a version number.")
    return number
