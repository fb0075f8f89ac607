"""Pure rules of Parameter Store names, selectors, labels, paths and page tokens (AWS's, from the user guide's
"Requirements and constraints for parameter names" and "Working with parameter labels").

A name is letters, digits and ``.-_``, optionally a path of such segments each after a ``/`` (a name with a
``/`` must begin with one: it is then fully qualified), at most 15 levels deep and 1011 characters long; it
may not begin (first segment) with ``aws`` or ``ssm`` in any case. A selector follows the name after a ``:``:
a version number or a label. A label is 1-100 of letters, digits and ``.-_``, neither starting with a digit
nor with ``aws``/``ssm``; a version has at most 10 of them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from controller.errors import error

ValidationException = error("ValidationException")
AccessDeniedException = error("AccessDeniedException")
HierarchyLevelLimitExceededException = error("HierarchyLevelLimitExceededException")
InvalidNextToken = error("InvalidNextToken")

T = TypeVar("T")

MAX_NAME_LENGTH = 1011
MAX_LEVELS = 15
MAX_LABELS_PER_VERSION = 10
_NAME = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
_LABEL = re.compile(r"^[a-zA-Z0-9_.\-]{1,100}$")
_RESERVED = ("aws", "ssm")

NAME_MESSAGE = ("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it "
                "can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, "
                "numbers and the following 3 symbols .-_")
HIERARCHY_MESSAGE = ("A hierarchy can have a maximum of 15 levels. For more information, see Requirements and "
                     "constraints for parameter names in the AWS Systems Manager User Guide.")


def levels(name: str) -> int:
    """How many hierarchy levels a name or path has (``/a/b/c``: 3; ``c``: 1)."""
    return len([part for part in name.split("/") if part]) or 1


def normalize(name: str) -> str:
    """The name a parameter is kept under: AWS drops the slash of a one-level name (``/app`` is ``app``)."""
    return name[1:] if name.startswith("/") and name.count("/") == 1 else name


def check_name(name: str) -> str:
    """The name ``name`` gives a new parameter (:func:`normalize`), or AWS's error if the account may not use it.

    A path must begin with a slash; AWS words that refusal as the prefix rule's message, and so does this.
    """
    if not _NAME.match(name) or "//" in name or name.endswith("/") or ("/" in name and not name.startswith("/")):
        raise ValidationException(NAME_MESSAGE)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationException(f"Parameter name {name[:40]}... exceeds the maximum length of "
                                  f"{MAX_NAME_LENGTH} characters.")
    _check_reserved(name)
    if levels(name) > MAX_LEVELS:
        raise HierarchyLevelLimitExceededException(HIERARCHY_MESSAGE)
    return normalize(name)


def _check_reserved(name: str) -> None:
    """AWS keeps ``/aws/...`` paths for its public parameters, and names beginning with aws or ssm for itself."""
    if not name.lstrip("/").lower().startswith(_RESERVED):
        return
    if name.count("/") > 1:
        if name.lower().startswith("/aws"):
            raise AccessDeniedException(f"No access to reserved parameter name: {name}.")
        raise ValidationException("Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed "
                                  "as a path, it can consist of sub-paths divided by slash symbol; each sub-path "
                                  "can be formed as a mix of letters, numbers and the following 3 symbols .-_")
    raise ValidationException("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")


def check_path(path: str) -> None:
    """Raise AWS's error unless ``path`` may be a GetParametersByPath path (``/`` or ``/a/b``, trailing ``/`` ok)."""
    if not path.startswith("/") or not _NAME.match(path) or "//" in path:
        raise ValidationException('The parameter doesn\'t meet the parameter name requirements. The parameter name '
                                  'must begin with a forward slash "/". It can\'t be prefixed with "aws" or "ssm" '
                                  "(case-insensitive). It must use only letters, numbers, or the following symbols: "
                                  ". (period), - (hyphen), _ (underscore). Special characters are not allowed. All "
                                  "sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: "
                                  "/get/parameters2-/by1./path0_.")
    if levels(path) > MAX_LEVELS:
        raise HierarchyLevelLimitExceededException(HIERARCHY_MESSAGE)


def in_path(name: str, path: str, recursive: bool) -> bool:
    """Whether parameter ``name`` is below ``path``: directly, or at any depth when ``recursive`` (a one-level
    name is at the root, ``/``)."""
    name = "/" + name.lstrip("/")
    prefix = path.rstrip("/") + "/"
    if not name.startswith(prefix) or name == prefix:
        return False
    return recursive or "/" not in name[len(prefix):]


@dataclass(frozen=True)
class Selector:
    """``name``, ``name:3`` or ``name:prod``: the parameter and which of its versions."""

    name: str
    version: int | None = None
    label: str | None = None

    @property
    def text(self) -> str:
        """The selector as GetParameter echoes it (``:3``, ``:prod``), "" for none."""
        if self.version is not None:
            return f":{self.version}"
        return f":{self.label}" if self.label is not None else ""


def parse_selector(reference: str) -> Selector:
    """Split ``name[:version|:label]``; ValidationException for more than one selector or an empty one."""
    name, colon, selector = reference.partition(":")
    if not colon:
        return Selector(name)
    if not selector or ":" in selector or not name:
        raise ValidationException(f"Invalid parameter name or selector: {reference}. A parameter can be "
                                  "selected by one version number or one label.")
    if selector.isdigit():
        return Selector(name, version=int(selector))
    return Selector(name, label=selector)


def valid_label(label: str) -> bool:
    """Whether ``label`` is a label AWS accepts (invalid ones come back in InvalidLabels, not as errors; one
    longer than 100 characters is a ValidationException, see :func:`check_label_lengths`)."""
    return bool(_LABEL.match(label)) and not label[0].isdigit() and not label.lower().startswith(_RESERVED)


def check_label_lengths(labels: list[str]) -> None:
    for label in labels:
        if not 1 <= len(label) <= 100:
            raise ValidationException(f"1 validation error detected: Value '[{label}]' at 'labels' failed to "
                                      "satisfy constraint: Member must satisfy constraint: [Member must have length "
                                      "less than or equal to 100, Member must have length greater than or equal to "
                                      "1]")


def parameter_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """``arn:aws:ssm:{region}:{account}:parameter/{name without its leading slash}`` (public ones: no account)."""
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"


def name_of_resource(resource_id: str) -> str:
    """The parameter name a ResourceId or Name gives (a name or the parameter's ARN, either with a selector)."""
    if resource_id.startswith("arn:") and ":parameter/" in resource_id:
        rest = resource_id.split(":parameter/", 1)[1]
        return rest if "/" not in rest.partition(":")[0] else f"/{rest}"
    name, colon, selector = resource_id.partition(":")
    return f"{normalize(name)}{colon}{selector}"


def check_max_results(value: int | None, maximum: int, default: int | None = None) -> int:
    """MaxResults as Coral validates it: the page size (``default``, else ``maximum``, when absent)."""
    if value is None:
        return default or maximum
    if value < 1 or value > maximum:
        bound = "greater than or equal to 1" if value < 1 else f"less than or equal to {maximum}"
        raise ValidationException(f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
                                  f"constraint: Member must have value {bound}")
    return value


def encode_token(after: str) -> str:
    """A NextToken that resumes after the item keyed ``after`` (opaque to callers)."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def decode_token(token: str | None) -> str | None:
    """The key a NextToken resumes after; InvalidNextToken for one this service did not make."""
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, KeyError, TypeError):
        raise InvalidNextToken("The specified token is not valid.") from None
    if not isinstance(after, str) or "\x00" in after:  # no name holds a NUL: this service made no such token
        raise InvalidNextToken("The specified token is not valid.")
    return after


def page(items: list[T], key: str | None, size: int, key_of: Callable[[T], str]) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key_of``) after ``key``, and the token of the next one (None at the end)."""
    rest = [item for item in items if key is None or key_of(item) > key]
    chosen = rest[:size]
    return chosen, encode_token(key_of(chosen[-1])) if len(rest) > size else None


def page_in_order(items: list[T], token: str | None, size: int, key_of: Callable[[T], str]) -> tuple[list[T], str | None]:
    """One page of ``items`` kept in their own order (newest first, say), resuming after the item the NextToken
    names; the token of the next page, or None at the end."""
    after = decode_token(token)
    keys = [key_of(item) for item in items]
    if after is not None and after not in keys:
        raise InvalidNextToken("The specified token is not valid.")
    start = keys.index(after) + 1 if after is not None else 0
    chosen = items[start:start + size]
    return chosen, encode_token(keys[start + size - 1]) if len(items) > start + size else None


def reference_arn(partition: str, region: str, account_id: str, reference: str) -> str:
    """The ARN IAM authorizes for a Name member (a name or an ARN, either with a selector)."""
    if reference.startswith("arn:") and ":parameter/" in reference:
        head, rest = reference.split(":parameter/", 1)
        return f"{head}:parameter/{rest.partition(':')[0]}"
    name = reference.partition(":")[0]
    return parameter_arn(partition, region, "" if name.startswith("/aws/service/") else account_id, name)
