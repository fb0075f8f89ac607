"""The console's blueprint: who is asking, the CSRF wall, sign-in and sign-out.

Every request first hears what other processes committed (``db.sync``: sign-outs, deleted keys and
IAM changes clear caches), then finds its session from the cookie and the session's principal from the
credential store: the role's, when the session switched role (:mod:`controller.console.role_switch`).
Without one, a page redirects to the sign-in page and a POST is refused; with one, a POST must carry the
session's CSRF token (:mod:`controller.console.csrf`) or it is refused with 403 before anything else
runs. The pages themselves are in :mod:`controller.console.pages`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from controller.console import csrf, role_switch, state
from controller.console.calls import ConsoleApi
from controller.console.sessions import (
    COOKIE,
    PATH,
    SIGNIN_COOKIE,
    clear_cookie,
    open_pending_step,
    pending_step,
    principal_of,
    set_cookie,
)
from controller.gateway import Caller, relayed_caller
from controller.iam import console_signin

blueprint = Blueprint("console", __name__, url_prefix=PATH, template_folder="templates",
                      static_folder="static")

#: Endpoints served without a session: the sign-in pages (they check their own form token) and static files.
_PUBLIC = frozenset({"console.static", "console.sign_in_form", "console.sign_in"})
#: The POSTs that act as the signed-in user even in a role: after the role's session ended, any other POST
#: was meant for the role and is refused rather than done as the user.
_AS_USER = frozenset({"console.sign_out", "console.switch_role", "console.switch_back"})


def cloud() -> Any:
    return current_app.config["CLOUD"]


def _caller() -> Caller:
    """The browser's address and transport, as an agent's relay (an API worker's, or a VPC's) saw them."""
    sent = Caller(source_ip=request.remote_addr or "", user_agent=request.headers.get("User-Agent", ""),
                  secure=request.scheme == "https")
    return relayed_caller({k.lower(): v for k, v in request.headers.items()}, sent, cloud().agent_credentials.trusts)


@blueprint.before_request
def identify() -> Response | None:
    """Set ``g.caller``, and for every non-public endpoint ``g.session``, ``g.user`` (the signed-in principal,
    who asks for every role switch), ``g.api`` (as the role while the session acts as one) and
    ``g.role_ended`` (the role whose session just ended, for the header's notice), or answer instead."""
    the_cloud = cloud()
    the_cloud.db.sync()
    g.caller = _caller()
    if request.endpoint in _PUBLIC:
        return None
    now = dt.datetime.now(dt.UTC)
    session = state.find(the_cloud.db, the_cloud.secrets, request.cookies.get(COOKIE, ""), now)
    principal = principal_of(the_cloud, session, now) if session is not None else None
    if session is None or principal is None:
        if request.method == "POST":
            return forbidden("Your session has ended. Sign in again.")
        if request.headers.get("HX-Request"):  # a poll: htmx follows HX-Redirect with a full page load
            return Response(status=401, headers={"HX-Redirect": url_for("console.sign_in_form")})
        return redirect(url_for("console.sign_in_form"))
    if request.method == "POST" and not csrf.matches(session.csrf_token, csrf.token_sent(request)):
        return forbidden("The form was not sent from this console (its security token is missing or wrong).")
    g.user = principal
    g.session, acting_as, g.role_ended = role_switch.acting(the_cloud, session, principal, now)
    if g.role_ended is not None and request.method == "POST" and request.endpoint not in _AS_USER:
        return forbidden(f"Your session as {g.role_ended.display_name} ended, so nothing was done: you are "
                         f"{session.signed_in.user_name} again.")
    g.api = ConsoleApi(the_cloud, acting_as, g.caller.source_ip, g.caller.secure)
    return None


@blueprint.after_request
def add_security_headers(response: Response) -> Response:
    return csrf.secure(response)


def forbidden(message: str) -> Response:
    return Response(render_template("forbidden.html", message=message), status=403)


@blueprint.get("/signin")
def sign_in_form() -> Response:
    return _sign_in_page(account=request.args.get("account", ""), user_name=request.args.get("user", "root"))


@blueprint.post("/signin")
def sign_in() -> Response:
    """The password step, or the MFA step that follows it when the user has an MFA device."""
    if not csrf.matches(request.cookies.get(SIGNIN_COOKIE, ""), request.form.get(csrf.FIELD, "")):
        return forbidden("The sign-in form expired or was not sent from this console. "
                         "Reload it and try again.")
    the_cloud = cloud()
    mfa_code = None
    if request.form.get("pending"):
        step = open_pending_step(the_cloud.secrets, request.form["pending"])
        if step is None:
            return _sign_in_page(message="The sign-in took too long. Start again.", status=401)
        account, user_name, password = step
        mfa_code = request.form.get("mfa_code", "").strip()
    else:
        account = request.form.get("account", "").strip()
        user_name = request.form.get("user_name", "").strip() or "root"
        password = request.form.get("password", "")
    try:
        signed_in = console_signin.sign_in(the_cloud, account=account, user_name=user_name, password=password,
                                           mfa_code=mfa_code, source_ip=g.caller.source_ip)
    except console_signin.SignInRefused as refused:
        if refused.mfa_required:
            pending = pending_step(the_cloud.secrets, account, user_name, password)
            return _page("mfa.html", status=401 if mfa_code else 200, pending=pending, account=account,
                         user_name=user_name, message=refused.reason if mfa_code else "")
        return _sign_in_page(account=account, user_name=user_name, message=refused.reason, status=401)
    token = state.create(the_cloud.db, the_cloud.secrets, signed_in)
    response = redirect(url_for("console.overview"), code=303)
    set_cookie(response, COOKIE, token, expires=signed_in.expiration, secure=g.caller.secure)
    clear_cookie(response, SIGNIN_COOKIE, secure=g.caller.secure)
    return response


def _sign_in_page(*, account: str = "", user_name: str = "root", message: str = "",
                  status: int = 200) -> Response:
    return _page("signin.html", status=status, account=account, user_name=user_name, message=message)


def _page(template: str, *, status: int, **values: Any) -> Response:
    """A sign-in page with a fresh form token in both the page and the (Strict, HttpOnly) cookie."""
    token = secrets.token_urlsafe(32)
    response = Response(render_template(template, csrf=token, **values), status=status)
    set_cookie(response, SIGNIN_COOKIE, token, expires=None, secure=g.caller.secure)
    return response


@blueprint.post("/signout")
def sign_out() -> Response:
    """Forget the session and retire its credentials: the cookie signs no one in from now on."""
    the_cloud = cloud()
    state.remove(the_cloud.db, g.session.token_hash)
    if g.session.role is not None:
        role_switch.retire(the_cloud, g.session.role)
    console_signin.sign_out(the_cloud, g.session.signed_in)
    response = redirect(url_for("console.sign_in_form", account=g.session.signed_in.account_id), code=303)
    clear_cookie(response, COOKIE, secure=g.caller.secure)
    return response
