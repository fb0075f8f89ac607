"""Messages to JSON and back, checked on the way in: the one place a peer's document is validated.

Every contract dataclass round-trips through ``to_json``/``from_json``. Reading follows the compatibility
rule (``agent.contract.version``): unknown keys are ignored (a newer peer added them), missing keys with a
default take the default (an older peer did not know them), and so does a null where a field has one; a
missing key without one, or a value of the wrong type, raises ContractError naming the field
(``InstancesReport.instances[2].power: expected str``), which the controller answers with 400. A :class:`Message` also carries ``contract_version``; one of another
major raises IncompatibleVersion.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, TypeVar

from agent.contract.version import CONTRACT_VERSION, UNVERSIONED, ContractError, check_compatible

T = TypeVar("T")


@dataclass(kw_only=True)
class Message:
    """A top-level message (a request or answer body, not a part of one): it says which contract it speaks."""

    contract_version: str = CONTRACT_VERSION


def to_json(obj: Any) -> Any:
    """A JSON-ready structure (dicts, lists, scalars) for a message or any part of it."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list):
        return [to_json(item) for item in obj]
    if isinstance(obj, dict):
        return {key: to_json(value) for key, value in obj.items()}
    return obj


def from_json(cls: type[T], data: Any) -> T:
    """Rebuild ``cls`` from ``to_json`` output (see the module docstring for what is refused)."""
    if issubclass(cls, Message) and isinstance(data, dict):
        version = data.get("contract_version", UNVERSIONED)
        if not isinstance(version, str):
            raise ContractError(f"{cls.__name__}.contract_version: expected str, got {type(version).__name__}")
        check_compatible(version)
        data = {**data, "contract_version": version}
    return _convert(cls, data, cls.__name__)


def read_section(cls: type[T], data: Any, problems: Callable[[T], list[str]]) -> T:
    """A section as ``cls`` (None reads as empty), refused whole with every problem ``problems`` finds listed:
    for sections whose values become file, namespace or configuration names, nothing is touched until all
    of it is sound."""
    section = from_json(cls, data if data is not None else {})
    found = problems(section)
    if found:
        raise ContractError("; ".join(found))
    return section


def _convert(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if data is None:
            return None
        return _convert(options[0], data, where)
    if origin is list:
        if not isinstance(data, list):
            raise ContractError(f"{where}: expected a list")
        (item,) = typing.get_args(tp)
        return [_convert(item, value, f"{where}[{i}]") for i, value in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise ContractError(f"{where}: expected an object")
        _, value_type = typing.get_args(tp)
        return {str(k): _convert(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if is_dataclass(tp):
        return _dataclass(tp, data, where)
    if tp is Any:
        return data
    if tp is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if not isinstance(data, tp) or (tp in (int, float) and isinstance(data, bool)):
        raise ContractError(f"{where}: expected {tp.__name__}, got {type(data).__name__}")
    return data


def _dataclass(tp: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ContractError(f"{where}: expected an object")
    hints = typing.get_type_hints(tp)
    kwargs = {}
    for f in fields(tp):
        optional = f.default is not MISSING or f.default_factory is not MISSING
        if data.get(f.name) is None and optional:
            continue  # absent, or null where the field has a default: the default (older senders wrote null)
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        else:
            raise ContractError(f"{where}.{f.name}: missing")
    try:
        return tp(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{where}: {exc}") from exc
