"""DescribeParameters: the account's parameters' metadata (never values), filtered and paged by name.

``Filters`` (the older form) and ``ParameterFilters`` cannot be combined; MaxResults is at most 50 (10 a page
when not given).
Public parameters are not listed, as on AWS.
"""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.ssm import filters, names, records
from controller.ssm.service import api


@api.operation("DescribeParameters")
def describe_parameters(ctx: RequestContext, params: Params) -> Params:
    if params.get("Filters") and params.get("ParameterFilters"):
        raise names.ValidationException("You can use either Filters or ParameterFilters in a single request.")
    chosen = filters.parse_legacy(params.get("Filters")) + filters.parse(params.get("ParameterFilters"),
                                                                          filters.DESCRIBE_KEYS)
    size = names.check_max_results(params.get("MaxResults"), 50, default=10)
    after = names.decode_token(params.get("NextToken"))
    matched = filters.matching(records.latest_of_all(ctx), chosen, lambda name: records.tags_of(ctx, name))
    items, token = names.page(matched, after, size, lambda item: item.name)
    output: Params = {"Parameters": [records.metadata_output(item) for item in items]}
    if token:
        output["NextToken"] = token
    return output
