"""GetParameter, GetParameters, GetParametersByPath and GetParameterHistory.

A name may carry a selector (``name:3``, ``name:prod``) and may be the parameter's ARN; names under
``/aws/service/`` read the public parameters (:mod:`controller.ssm.public`). SecureString values come back as
their KMS ciphertext (base64) unless ``WithDecryption``, which needs the caller's ``kms:Decrypt`` on the key.
GetParametersByPath lists a path's parameters (one level, or every level with ``Recursive``) by name, at most
10 a page; GetParameterHistory lists versions oldest first, at most 50 a page.
"""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.errors import ServiceError
from controller.ssm import filters, names, public, records
from controller.ssm.service import api
from controller.ssm.writes import check_names_count, name_arns, names_arns


@api.operation("GetParameter", resources=name_arns)
def get_parameter(ctx: RequestContext, params: Params) -> Params:
    item, selector = records.selected(ctx, params["Name"])
    return {"Parameter": records.parameter_output(ctx, item, bool(params.get("WithDecryption")), selector.text)}


@api.operation("GetParameters", resources=names_arns)
def get_parameters(ctx: RequestContext, params: Params) -> Params:
    check_names_count(params["Names"])
    found, invalid = [], []
    for reference in dict.fromkeys(params["Names"]):
        try:
            item, selector = records.selected(ctx, reference)
        except ServiceError as exc:
            if exc.code not in ("ParameterNotFound", "ParameterVersionNotFound", "ValidationException"):
                raise
            invalid.append(reference)
            continue
        found.append(records.parameter_output(ctx, item, bool(params.get("WithDecryption")), selector.text))
    return {"Parameters": found, "InvalidParameters": invalid}


def _path_arn(ctx: RequestContext, params: Params) -> list[str]:
    path = params["Path"]
    account = "" if public.is_public(path.rstrip("/") + "/") else ctx.account_id
    return [names.parameter_arn(ctx.cloud.config.partition, ctx.region, account, path.rstrip("/") or "/")]


@api.operation("GetParametersByPath", resources=_path_arn)
def get_parameters_by_path(ctx: RequestContext, params: Params) -> Params:
    path = params["Path"]
    names.check_path(path)
    size = names.check_max_results(params.get("MaxResults"), 10)
    chosen = filters.parse(params.get("ParameterFilters"), filters.BY_PATH_KEYS)
    after = names.decode_token(params.get("NextToken"))
    candidates = public.latest_all(ctx) if public.is_public(path.rstrip("/") + "/") else records.latest_of_all(ctx)
    recursive = bool(params.get("Recursive"))
    below = [item for item in candidates if names.in_path(item.name, path, recursive)]
    if chosen and any(f.key == "Label" for f in chosen):
        below = _labelled_versions(ctx, below)
    matched = filters.matching(below, chosen, lambda name: records.tags_of(ctx, name))
    # A space sorts below every character a parameter name may hold, so name order is kept (and a token
    # never carries a NUL, which decode_token refuses).
    items, token = names.page(matched, after, size, lambda item: f"{item.name} {item.version:010d}")
    output: Params = {"Parameters": [records.parameter_output(ctx, item, bool(params.get("WithDecryption")))
                                     for item in items]}
    if token:
        output["NextToken"] = token
    return output


def _labelled_versions(ctx: RequestContext, newest: list[records.Version]) -> list[records.Version]:
    """With a Label filter, every version of each parameter is a candidate (the labelled one is returned)."""
    every: list[records.Version] = []
    for item in newest:
        every.extend(records.history(ctx, item.name))
    return every


@api.operation("GetParameterHistory", resources=name_arns)
def get_parameter_history(ctx: RequestContext, params: Params) -> Params:
    reference = records.own_name(ctx, params["Name"])
    if ":" in reference:
        raise names.ValidationException("GetParameterHistory takes a parameter name without a version or label "
                                        "selector.")
    size = names.check_max_results(params.get("MaxResults"), 50)
    after = names.decode_token(params.get("NextToken"))
    items, token = names.page(records.history(ctx, reference), after, size, lambda item: f"{item.version:010d}")
    output: Params = {"Parameters": [records.history_output(ctx, item, bool(params.get("WithDecryption")))
                                     for item in items]}
    if token:
        output["NextToken"] = token
    return output
