"""GetConsoleOutput: the last 64 KiB of an instance's serial console, as its agent last reported them.

The agent reads the console log QEMU writes (across boots) and sends its tail when it changed; the
controller keeps the latest one, so the output is there even while the host is unreachable or after
the instance stopped, as in EC2. The answer is base64 (botocore and the AWS CLI decode it).
"""

from __future__ import annotations

import base64

from sqlalchemy import select

from controller.api import Params, RequestContext
from controller.ec2.errors import require
from controller.ec2.ids import INSTANCE
from controller.ec2.instances import state
from controller.ec2.instances.views import caller_instance
from controller.ec2.operation import arns, vpc_operation


@vpc_operation("GetConsoleOutput", resources=arns((INSTANCE, "InstanceId")))
def get_console_output(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceId")
    consoles = state.instance_consoles
    with ctx.cloud.db.read() as conn:
        row = caller_instance(conn, ctx.account_id, params["InstanceId"], terminated=True)
        console = conn.execute(select(consoles).where(consoles.c.instance_id == row["instance_id"])).mappings().first()
    result: Params = {"InstanceId": row["instance_id"]}
    if console is not None:
        result["Output"] = base64.b64encode(console["output"]).decode()
        result["Timestamp"] = console["updated_at"]
    return result
