"""DescribeRegions and DescribeAvailabilityZones, from the controller's configuration."""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2.filters import apply_filters, check_names
from controller.ec2.service import api
from controller.errors import error

InvalidParameterValue = error("InvalidParameterValue")

#: API_DescribeRegions.html
REGION_FILTERS = {"region-name": "RegionName", "endpoint": "Endpoint", "opt-in-status": "OptInStatus"}
#: API_DescribeAvailabilityZones.html (this cloud's zones have no parent zone and no messages).
ZONE_FILTERS = {"zone-name": "ZoneName", "zone-id": "ZoneId", "state": "State", "region-name": "RegionName",
                "zone-type": "ZoneType", "group-name": "GroupName", "group-long-name": "GroupLongName",
                "opt-in-status": "OptInStatus", "message": "Messages[].Message", "parent-zone-id": "ParentZoneId",
                "parent-zone-name": "ParentZoneName"}


@api.operation("DescribeRegions")
def describe_regions(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), REGION_FILTERS, tags_key=None)
    config = ctx.cloud.config
    regions = [{"RegionName": config.region, "Endpoint": _endpoint(ctx),
                "OptInStatus": "opt-in-not-required"}]
    wanted = params.get("RegionNames")
    if wanted:
        unknown = [name for name in wanted if name != config.region]
        if unknown:
            raise InvalidParameterValue(f"Invalid region: {unknown[0]}")
        regions = [r for r in regions if r["RegionName"] in wanted]
    regions = apply_filters(regions, params.get("Filters"), REGION_FILTERS, tags_key=None)
    return {"Regions": regions}


@api.operation("DescribeAvailabilityZones")
def describe_availability_zones(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), ZONE_FILTERS, tags_key=None)
    config = ctx.cloud.config
    zones = [{"ZoneName": name, "ZoneId": zone_id(config.region, index), "State": "available",
              "RegionName": config.region, "ZoneType": "availability-zone", "OptInStatus": "opt-in-not-required",
              "GroupName": config.region, "GroupLongName": config.region, "NetworkBorderGroup": config.region,
              "Messages": []}
             for index, name in enumerate(config.availability_zones, start=1)]
    names, ids = params.get("ZoneNames"), params.get("ZoneIds")
    for wanted, key in ((names, "ZoneName"), (ids, "ZoneId")):
        if wanted:
            known = {z[key] for z in zones}
            missing = [w for w in wanted if w not in known]
            if missing:
                raise InvalidParameterValue(
                    f"The zone '{missing[0]}' does not exist in the region '{config.region}'")
            zones = [z for z in zones if z[key] in wanted]
    zones = apply_filters(zones, params.get("Filters"), ZONE_FILTERS, tags_key=None)
    return {"AvailabilityZones": zones}


def zone_id(region: str, index: int) -> str:
    """The id of the region's ``index``-th zone (from 1), as DescribeAvailabilityZones shows it."""
    return f"{_region_code(region)}-az{index}"


def zone_ids(config: Config) -> dict[str, str]:
    """Each configured zone's id (``home-1a`` -> ``hom1-az1``), as DescribeAvailabilityZones gives them."""
    return {zone: zone_id(config.region, index) for index, zone in enumerate(config.availability_zones, start=1)}


def _region_code(region: str) -> str:
    """AWS zone ids abbreviate the region (``use1-az1``); ``home-1`` gives ``hom1``."""
    parts = region.split("-")
    return parts[0][:3] + "".join(p[0] for p in parts[1:-1]) + parts[-1]


def _endpoint(ctx: RequestContext) -> str:
    return ctx.host or f"{ctx.cloud.config.host}:{ctx.cloud.config.port}"
