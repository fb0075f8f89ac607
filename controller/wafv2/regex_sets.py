"""Regex pattern sets: Create/Get/Update/Delete/ListRegexPatternSets. Each expression must compile (the data
plane runs them with Python's ``re``, which reads the PCRE subset AWS documents)."""

from __future__ import annotations

import re

from controller.api import Params, RequestContext
from controller.wafv2 import errors, records


def check_expressions(expressions: list[dict[str, str]]) -> list[dict[str, str]]:
    for item in expressions:
        pattern = item.get("RegexString") or ""
        try:
            re.compile(pattern)
        except re.error:
            raise errors.invalid("REGEX_PATTERN_SET", pattern) from None
        if not 1 <= len(pattern) <= 512:
            raise errors.invalid("REGEX_PATTERN_SET", pattern)
    if len(expressions) > 10:
        raise errors.WAFLimitsExceededException("A regex pattern set can hold at most 10 regular expressions.")
    return [{"RegexString": item["RegexString"]} for item in expressions]


def _doc(entity_id: str, arn: str, params: Params, expressions: list[dict[str, str]]) -> Params:
    doc: Params = {"Name": params["Name"], "Id": entity_id, "ARN": arn, "RegularExpressionList": expressions}
    if params.get("Description") is not None:
        doc["Description"] = params["Description"]
    return doc


@records.operation("CreateRegexPatternSet", "regexpatternset")
def create_regex_set(ctx: RequestContext, params: Params) -> Params:
    records.check_name(params["Name"], "REGEX_PATTERN_SET")
    records.check_description(params.get("Description"), "REGEX_PATTERN_SET")
    expressions = check_expressions(params["RegularExpressionList"])
    tags = records.check_tags(params.get("Tags") or [])
    with ctx.cloud.db.begin() as conn:
        row = records.create(conn, ctx, "regexpatternset", params["Scope"], params["Name"],
                             lambda entity_id, arn: _doc(entity_id, arn, params, expressions), tags)
    return {"Summary": records.summary(row)}


@records.operation("GetRegexPatternSet", "regexpatternset")
def get_regex_set(ctx: RequestContext, params: Params) -> Params:
    return records.get_entity(ctx, "regexpatternset", params, "RegexPatternSet")


@records.operation("UpdateRegexPatternSet", "regexpatternset")
def update_regex_set(ctx: RequestContext, params: Params) -> Params:
    records.check_description(params.get("Description"), "REGEX_PATTERN_SET")
    expressions = check_expressions(params["RegularExpressionList"])
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx, "regexpatternset", params["Scope"], params["Name"], params["Id"])
        token = records.replace(conn, row, _doc(row["entity_id"], row["doc"]["ARN"], params, expressions),
                                params["LockToken"])
    return {"NextLockToken": token}


@records.operation("DeleteRegexPatternSet", "regexpatternset")
def delete_regex_set(ctx: RequestContext, params: Params) -> Params:
    return records.delete_unused(ctx, "regexpatternset", params)


@records.operation("ListRegexPatternSets", "regexpatternset")
def list_regex_sets(ctx: RequestContext, params: Params) -> Params:
    return records.list_page(ctx, "regexpatternset", params, "RegexPatternSets")
