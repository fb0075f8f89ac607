"""RunInstances with ``LaunchTemplate``: the template version's data under the request's own parameters.

:func:`from_launch_template` wraps the RunInstances handler (one decorator line in
``controller/ec2/instances/run_instances.py``): it resolves the template and version (no version: the
default one), merges (:func:`.merge.merge`), checks the merged request's id shapes as every request's are
checked, and runs the launch. The instances then get the two tags AWS adds, ``aws:ec2launchtemplate:id`` and
``aws:ec2launchtemplate:version``; those keys are reserved for AWS, so they are written here and not through
TagSpecifications, which refuse ``aws:`` keys.
"""

from __future__ import annotations

import functools
from typing import Any

from controller.api import Handler, Params, RequestContext
from controller.ec2.ids import INSTANCE
from controller.ec2.launch_templates import records, selection
from controller.ec2.launch_templates.merge import merge
from controller.ec2.tags import set_tags
from controller.ec2.validate import check_shapes

#: The resource types a plain launch creates: a template's tags for others (spot requests, elastic GPUs) only
#: apply to launches that make them.
LAUNCH_TAGGED = ("instance", "volume", "network-interface")
SPOT_TAGGED = "spot-instances-request"


def template_for_launch(ctx: RequestContext, spec: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """(template id, version number, request-shape data) of RunInstances' ``LaunchTemplate``."""
    with ctx.cloud.db.read() as conn:
        template = records.find(conn, ctx.account_id, spec)
        template_id = template["launch_template_id"]
        existing = records.versions(conn, template_id)
        number = selection.resolve(spec.get("Version"), existing, template["default_version"], template_id)
        data = dict(existing[number]["data"])
    if data.get("TagSpecifications"):
        spot = (data.get("InstanceMarketOptions") or {}).get("MarketType") == "spot"
        data["TagSpecifications"] = [s for s in data["TagSpecifications"] if s.get("ResourceType") in LAUNCH_TAGGED
                                     or (spot and s.get("ResourceType") == SPOT_TAGGED)]
    return template_id, number, data


def from_launch_template(handler: Handler) -> Handler:
    """RunInstances' handler, taking ``LaunchTemplate`` into account (a request without one is unchanged)."""

    @functools.wraps(handler)
    def run(ctx: RequestContext, params: Params) -> Params:
        spec = params.get("LaunchTemplate")
        if not spec:
            return handler(ctx, params)
        template_id, number, data = template_for_launch(ctx, spec)
        merged = merge(data, params)
        check_shapes("RunInstances", merged)
        reservation = handler(ctx, merged)
        system = [{"Key": "aws:ec2launchtemplate:id", "Value": template_id},
                  {"Key": "aws:ec2launchtemplate:version", "Value": str(number)}]
        with ctx.cloud.db.begin() as conn:
            for instance in reservation["Instances"]:
                set_tags(conn, ctx.account_id, INSTANCE, instance["InstanceId"], system)
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in [*(instance.get("Tags") or []), *system]}
            instance["Tags"] = [{"Key": k, "Value": tags[k]} for k in sorted(tags)]
        return reservation

    return run
