"""The switch-role page: the form AWS's console has (account, role, display name, colour), the roles
switched to lately, and going back to the signed-in user. The switching itself is
:mod:`controller.console.role_switch`'s.

The form may be prefilled from the query, as AWS's switch-role links are
(``?account=...&roleName=...&displayName=...&color=...``), so an administrator can hand users a link.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Response, g, redirect, render_template, request, url_for

from controller.console import role_switch
from controller.console.app import blueprint, cloud
from controller.console.calls import ConsoleApi, ServiceCallError


@blueprint.get("/switchrole")
def switch_role_form() -> str:
    args = request.args
    form = {"account": args.get("account", ""), "role_name": args.get("roleName", ""),
            "display_name": args.get("displayName", ""), "colour": args.get("color", "")}
    return _page(form)


@blueprint.post("/switchrole")
def switch_role() -> Response | tuple[str, int]:
    """Switch as the signed-in user (``g.user``), whatever role the session acts as now, as AWS's console."""
    form = request.form
    api = ConsoleApi(cloud(), g.user, g.caller.source_ip, g.caller.secure)
    try:
        role_switch.switch(api, g.session, role_switch.choice_from(api.cloud, form), dt.datetime.now(dt.UTC))
    except role_switch.SwitchRefused as refused:
        return _page(form, message=refused.message), 400
    except ServiceCallError as refused:
        return _page(form, error=refused), refused.status
    return redirect(url_for("console.overview"), code=303)


@blueprint.post("/switchrole/back")
def switch_back() -> Response:
    role_switch.go_back(cloud(), g.session)
    return redirect(url_for("console.overview"), code=303)


def _page(form: Mapping[str, str], **values: Any) -> str:
    return render_template("switch_role.html", form=form, colours=role_switch.COLOURS,
                           display_name_length=role_switch.DISPLAY_NAME_LENGTH, **values)
