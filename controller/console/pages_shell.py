"""The browser shell page: a terminal (xterm.js) on an instance, through EC2 Instance Connect.

The page itself only renders: it asks the API (as the principal) which image the instance runs, to suggest
the OS user as AWS's console does, and hands the browser a one-time ticket for its session
(:mod:`controller.console.shell`). The shell is the Instance Connect listener's
(:mod:`controller.console.shell_server`), on another port than the console's, so this page's
Content-Security-Policy lets the page connect to that listener, and lets xterm.js add the ``<style>``
elements it draws the terminal with (it sets no nonce on them); scripts stay the console's own files only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, abort, g, render_template, request

from controller.console import shell
from controller.console.app import blueprint, cloud
from controller.console.calls import ServiceCallError
from controller.console.csrf import CONTENT_SECURITY_POLICY
from controller.ec2.ids import INSTANCE
from controller.ec2_instance_connect.tunnel import URL_FILE


@blueprint.get("/ec2/instances/<instance_id>/shell")
def instance_shell(instance_id: str) -> Response:
    if not INSTANCE.well_formed(instance_id):
        abort(404)
    asked = request.args.get("user", "").strip()
    os_user = asked if shell.OS_USER.match(asked) else _suggested_user(instance_id)
    port = _listener_port()
    websocket = f"{'wss' if g.caller.secure else 'ws'}://{request.host.rsplit(':', 1)[0]}:{port}" if port else ""
    ticket = shell.issue(cloud().secrets, g.session.token_hash, instance_id, os_user)
    page = render_template("shell.html", instance_id=instance_id, os_user=os_user,
                           url=f"{websocket}{shell.WEBSOCKET_PATH}" if websocket else "", ticket=ticket)
    response = Response(page)
    if websocket:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self'", f"connect-src 'self' {websocket}").replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return response


def _suggested_user(instance_id: str) -> str:
    """The OS user the instance's image suggests; ``ec2-user`` when the principal may not read it."""
    try:
        reservations = g.api.call("ec2", "DescribeInstances", {"InstanceIds": [instance_id]})["Reservations"]
        image_id = reservations[0]["Instances"][0]["ImageId"]
        images = g.api.call("ec2", "DescribeImages", {"ImageIds": [image_id]})["Images"]
    except (ServiceCallError, IndexError, KeyError):
        return shell.default_os_user("")
    return shell.default_os_user(images[0].get("Name", "") if images else "")


def _listener_port() -> int | None:
    """The Instance Connect listener's port, as ``cloudlet up`` wrote it (None when it does not run)."""
    try:
        return urlsplit((cloud().config.data_dir / URL_FILE).read_text().strip()).port
    except (OSError, ValueError):
        return None
