"""Loading botocore's service models once per process, and caching work derived from shapes.

Every request needs its service model and walks its operation's shapes, so both must be
cheap after the first time: models are loaded once (``lru_cache``) and anything computed
from a shape (member tables, compiled patterns, URI templates) is stored on the shape
object itself. Shapes live as long as their cached model, so nothing is rebuilt and no
cache can outlive the shape it describes (which an ``id()``-keyed dict could).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import botocore.loaders
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.model import ServiceModel, Shape

T = TypeVar("T")

#: Models of what AWS serves but keeps out of its public SDKs: the Systems Manager agents' message channel
#: (``ec2messages``, a whole model) and the agent-facing ssm calls (``<service>.overlay.json``: operations and
#: shapes merged into botocore's model of that service).
PRIVATE_MODELS = Path(__file__).parent / "private_models"

#: The one botocore loader (models, and the list of every service for the catalog).
LOADER = botocore.loaders.create_loader(str(PRIVATE_MODELS))

_CACHE_PREFIX = "_cloudlet_"


@cache
def load_service_model(name: str) -> ServiceModel:
    """The botocore model of service ``name`` (newest API version), loaded once per process."""
    try:
        data = LOADER.load_service_model(name, "service-2")
    except (UnknownServiceError, DataNotFoundError) as exc:
        raise LookupError(f"no botocore model for service {name!r}") from exc
    overlay = PRIVATE_MODELS / f"{name}.overlay.json"
    if overlay.is_file():
        extra = json.loads(overlay.read_text())
        data = {**data, "operations": {**data["operations"], **extra["operations"]},
                "shapes": {**data["shapes"], **extra["shapes"]}}
    return ServiceModel(data, service_name=name)


def cached_on(obj: Any, key: str, build: Callable[[], T]) -> T:
    """``build()`` once per ``obj`` (a Shape, OperationModel or ServiceModel), kept on it."""
    attrs = obj.__dict__
    slot = _CACHE_PREFIX + key
    try:
        return attrs[slot]
    except KeyError:
        value = attrs[slot] = build()
        return value


def protocol_of(service_model: ServiceModel) -> str:
    """The wire protocol the model's clients speak (``ec2``, ``query``, ``json``...)."""
    return service_model.metadata["protocol"]


def is_query_compatible(service_model: ServiceModel) -> bool:
    """True for json services migrated from the query protocol (SQS): they keep query codes."""
    return "awsQueryCompatible" in service_model.metadata


class Member(NamedTuple):
    """One structure member as the wire sees it: model name, wire name, shape, location."""

    name: str
    wire: str
    shape: Shape
    location: str | None


def members_of(shape: Shape) -> tuple[Member, ...]:
    """The structure's members with their plain serialized names (json, xml, rest)."""

    def build() -> tuple[Member, ...]:
        return tuple(
            Member(name, member.serialization.get("name", name), member,
                   member.serialization.get("location"))
            for name, member in shape.members.items())

    return cached_on(shape, "members", build)


def required_of(shape: Shape) -> tuple[str, ...]:
    """The structure's required member names (``shape.required_members`` re-reads metadata)."""
    return cached_on(shape, "required", lambda: tuple(shape.metadata.get("required", ())))


def error_shapes(service_model: ServiceModel) -> dict[str, Shape]:
    """The model's error shapes by every code a service may raise them under.

    Keys are the shape name (``NoSuchBucket``, ``QueueDoesNotExist``) and, where the model
    gives one, the legacy query code (``error.code``: IAM's ``EntityAlreadyExists``).
    """

    def build() -> dict[str, Shape]:
        # Names first: a legacy code may be another shape's name (CloudWatch's DashboardNotFoundError is sent as
        # ResourceNotFound, which is also a shape of its own), and the shape of that name is the one meant.
        index: dict[str, Shape] = {shape.name: shape for shape in service_model.error_shapes}
        for shape in service_model.error_shapes:
            code = shape.metadata.get("error", {}).get("code")
            if code:
                index.setdefault(code, shape)
        return index

    return cached_on(service_model, "error_shapes", build)

