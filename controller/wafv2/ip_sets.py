"""IP sets: Create/Get/Update/Delete/ListIPSets. Addresses are CIDRs of the set's version (/0 excepted, as AWS)."""

from __future__ import annotations

import ipaddress

from controller.api import Params, RequestContext
from controller.wafv2 import errors, records


def check_addresses(version: str, addresses: list[str]) -> list[str]:
    """The addresses as given, once each is a CIDR of ``version`` (``10.0.0.0/8``, ``2001:db8::/32``)."""
    if version not in ("IPV4", "IPV6"):
        raise errors.invalid("IP_ADDRESS_VERSION", version)
    for address in addresses:
        try:
            network = ipaddress.ip_network(address, strict=False) if "/" in address else None
        except ValueError:
            network = None
        if network is None or network.prefixlen == 0 or f"IPV{network.version}" != version:
            raise errors.invalid("IP_ADDRESS", address)
    if len(addresses) > 10000:
        raise errors.WAFLimitsExceededException("An IP set can hold at most 10,000 addresses.")
    return list(addresses)


def _doc(entity_id: str, arn: str, params: Params, version: str, addresses: list[str]) -> Params:
    doc: Params = {"Name": params["Name"], "Id": entity_id, "ARN": arn, "IPAddressVersion": version,
                   "Addresses": addresses}
    if params.get("Description") is not None:
        doc["Description"] = params["Description"]
    return doc


@records.operation("CreateIPSet", "ipset")
def create_ip_set(ctx: RequestContext, params: Params) -> Params:
    records.check_name(params["Name"], "IP_SET")
    records.check_description(params.get("Description"), "IP_SET")
    version = params["IPAddressVersion"]
    addresses = check_addresses(version, params["Addresses"])
    tags = records.check_tags(params.get("Tags") or [])
    with ctx.cloud.db.begin() as conn:
        row = records.create(conn, ctx, "ipset", params["Scope"], params["Name"],
                             lambda entity_id, arn: _doc(entity_id, arn, params, version, addresses), tags)
    return {"Summary": records.summary(row)}


@records.operation("GetIPSet", "ipset")
def get_ip_set(ctx: RequestContext, params: Params) -> Params:
    return records.get_entity(ctx, "ipset", params, "IPSet")


@records.operation("UpdateIPSet", "ipset")
def update_ip_set(ctx: RequestContext, params: Params) -> Params:
    records.check_description(params.get("Description"), "IP_SET")
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx, "ipset", params["Scope"], params["Name"], params["Id"])
        version = row["doc"]["IPAddressVersion"]
        doc = _doc(row["entity_id"], row["doc"]["ARN"], params, version,
                   check_addresses(version, params["Addresses"]))
        token = records.replace(conn, row, doc, params["LockToken"])
    return {"NextLockToken": token}


@records.operation("DeleteIPSet", "ipset")
def delete_ip_set(ctx: RequestContext, params: Params) -> Params:
    return records.delete_unused(ctx, "ipset", params)


@records.operation("ListIPSets", "ipset")
def list_ip_sets(ctx: RequestContext, params: Params) -> Params:
    return records.list_page(ctx, "ipset", params, "IPSets")
