"""What every VPC Describe* call shares: explicit ids, filters and MaxResults/NextToken pages.

Each Describe handler builds the caller's visible resources as output dicts and hands
them here; filter names are checked first (an undocumented one is malformed input), then
ids (an unknown id is an error whatever the filters say), then filters narrow the list,
then the page is cut. Pages are ordered by resource id and the token carries the last id
returned, so resources created or deleted between two pages never shift the rest of the
listing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from controller.api import Params
from controller.ec2.errors import InvalidPaginationToken, invalid_value
from controller.ec2.filters import FilterFields, TagSource, apply_filters, check_names
from controller.ec2.ids import Kind

Item = dict[str, Any]


def describe(items: Sequence[Item], params: Params, *, key: str, fields: FilterFields,
             ids_param: str | None = None, kind: Kind | None = None, page_limits: tuple[int, int] | None = None,
             filters_param: str = "Filters", tags_key: TagSource = "Tags") -> tuple[list[Item], str | None]:
    """The selected, filtered page of ``items`` and the NextToken for the rest (None at the end)."""
    check_names(params.get(filters_param), fields, tags_key)
    rows = sorted(items, key=lambda item: item[key])
    wanted = params.get(ids_param) if ids_param else None
    if wanted:
        present = {item[key] for item in rows}
        missing = [i for i in dict.fromkeys(wanted) if i not in present]
        if missing and kind is not None:
            raise kind.missing(missing)
        chosen = set(wanted)
        rows = [item for item in rows if item[key] in chosen]
    rows = apply_filters(rows, params.get(filters_param), fields, tags_key=tags_key)
    return page(rows, params, key, page_limits)


def listing(member: str, items: list[Item], token: str | None) -> Params:
    """A Describe* output: the page under its member name, and ``NextToken`` only when more remain."""
    return {member: items, "NextToken": token} if token else {member: items}


def page(rows: list[Item], params: Params, key: str,
         limits: tuple[int, int] | None) -> tuple[list[Item], str | None]:
    """Cut ``rows`` (sorted by ``key``) after the token's position to MaxResults items."""
    token = params.get("NextToken")
    if token:
        after = decode_token(token)
        rows = [row for row in rows if str(row[key]) > after]
    max_results = params.get("MaxResults")
    if max_results is None:
        return rows, None
    if limits is not None:
        low, high = limits
        if not low <= max_results <= high:
            raise invalid_value(f" {max_results} ", "maxResults", f"Parameter must be between {low} and {high}.")
    if len(rows) <= max_results:
        return rows, None
    kept = rows[:max_results]
    return kept, encode_token(str(kept[-1][key]))


def encode_token(last_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_key}).encode()).decode()


def decode_token(token: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidPaginationToken("The specified pagination token is not valid or is expired.") from None
    if not isinstance(value, str) or "\x00" in value:  # no id holds a NUL: this server made no such token
        raise InvalidPaginationToken("The specified pagination token is not valid or is expired.")
    return value

