"""A user pool's hosted UI and OAuth 2.0 endpoints, served under the pool's prefix domain.

On AWS they live at ``https://{prefix}.auth.{region}.amazoncognito.com/...``. Cloudlet serves them at
``{endpoint}/_cloudlet/cognito/{prefix}/...`` (no DNS needed), and by name at
``{prefix}.auth.{region}.{service_domain}`` and ``{prefix}.auth.localhost`` (browsers resolve ``*.localhost``
to loopback): :class:`HostRouting` maps those names onto the path form. Every link and redirect between
the pages is relative, so both forms work.

- ``GET /oauth2/authorize`` checks the request (client, exact callback URL, response type, scopes, PKCE) and
  redirects to ``/login`` with the same parameters; a bad client or redirect URI goes to ``/error`` (never
  to an unverified URI), other problems back to the redirect URI with ``error=...&state=...``.
- ``GET /login`` shows the form; ``POST /login`` signs the user in (:func:`oauth_grants.sign_in`, the API's
  own USER_PASSWORD_AUTH), asks for a new password or a TOTP code on a page of their own when the user must
  answer NEW_PASSWORD_REQUIRED or SOFTWARE_TOKEN_MFA, and redirects to the callback with ``code`` and
  ``state`` (or, for the implicit grant, the tokens in the fragment); a refused sign-in shows the page again
  with Cognito's message.
- ``POST /oauth2/token``, ``GET|POST /oauth2/userInfo``, ``POST /oauth2/revoke``: :mod:`.oauth_grants`.
- ``GET /logout`` redirects to one of the client's sign-out URLs (or back to the login page).

The login form is protected against cross-site posts with a double-submit token (``XSRF-TOKEN`` cookie and
``_csrf`` field, as Cognito's own form does); a challenge's session travels in the page it answers. Sign-ins
are not remembered between authorizations (Cognito's single sign-on cookie): every authorization shows
the form.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from controller.api import RequestContext
from controller.auth.store import ANONYMOUS
from controller.cognito_idp import oauth_grants
from controller.cognito_idp.domains import PATH_PREFIX, find_domain
from controller.cognito_idp.hosted_ui_pages import challenge_page, error_page, login_page
from controller.cognito_idp.oauth import (
    STANDARD_SCOPES,
    OAuthError,
    granted_scopes,
    parse_scopes,
    redirect_with,
)
from controller.cognito_idp.pools import find_client, find_pool
from controller.cognito_idp.resource_servers import custom_scopes

blueprint = Blueprint("cognito_hosted_ui", __name__, url_prefix=PATH_PREFIX.rstrip("/") + "/<domain>")

#: response_type -> the AllowedOAuthFlows entry that allows it.
RESPONSE_TYPES = {"code": "code", "token": "implicit"}
#: The parameters /oauth2/authorize hands on to /login.
AUTHORIZE_PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                        "code_challenge_method", "nonce")
CSRF_COOKIE = "XSRF-TOKEN"
#: Set in the WSGI environ of a request :class:`HostRouting` mapped from a name onto the path form.
BY_NAME = "cloudlet.cognito_by_name"
#: What the error page says for the errors that cannot go back to the client.
PAGE_ERRORS = {
    "invalid_client": "The client_id is not an app client of this user pool allowed to use OAuth flows.",
    "redirect_mismatch": "The redirect_uri is not one of the app client's callback URLs.",
    "logout_mismatch": "The logout_uri is not one of the app client's sign-out URLs.",
    "unknown_domain": "This domain is not a user pool's domain.",
}


def auth_domains(region: str, service_domain: str) -> tuple[str, ...]:
    """The names a prefix domain is the first label of."""
    return (f"auth.{region}.{service_domain}".lower(), "auth.localhost")


def hosted_path(host: str, path: str, domains: tuple[str, ...]) -> str | None:
    """The path-form path of a request to ``{prefix}.{auth domain}``, or None when the Host is no such name."""
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    for domain in domains:
        prefix = name[: -len(domain) - 1] if name.endswith("." + domain) else ""
        if prefix and "." not in prefix:
            return path if path.startswith(PATH_PREFIX) else f"{PATH_PREFIX}{prefix}{path or '/'}"
    return None


class HostRouting:
    """WSGI middleware: a request by a prefix domain's name is served as the same request in path form."""

    def __init__(self, app: Callable[..., Any], domains: tuple[str, ...]) -> None:
        self.app = app
        self.domains = domains

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = hosted_path(environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""), self.domains)
        if path is not None and path != environ.get("PATH_INFO"):
            environ["PATH_INFO"] = path
            environ[BY_NAME] = True
        return self.app(environ, start_response)


# --- helpers ------------------------------------------------------------------------------------------

class PageError(Exception):
    """A problem the error page shows (``error`` is a key of :data:`PAGE_ERRORS`)."""

    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass
class Authorization:
    """A checked authorization request: who asks, where the answer goes, with which scopes and PKCE."""

    pool: dict[str, Any]
    client: dict[str, Any]
    response_type: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    #: The client's OIDC nonce, put into the id token as given (replay protection on the client's side).
    nonce: str | None = None

    def refuse(self, error: OAuthError) -> Response:
        """Send ``error`` back to the client's callback, as RFC 6749 4.1.2.1 says."""
        params = {"error": error.error, "error_description": error.description or None, "state": self.state}
        return _redirect(redirect_with(self.redirect_uri, params, fragment=self.response_type == "token"))


def _cloud() -> Any:
    return current_app.config["CLOUD"]


def _pool(domain: str) -> dict[str, Any]:
    row = find_domain(_cloud(), domain)
    pool = find_pool(_cloud(), row["pool_id"]) if row else None
    if pool is None:
        raise PageError("unknown_domain", status=404)
    return pool


def _redirect(location: str) -> Response:
    return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _page(html: str, status: int = 200) -> Response:
    return Response(html, status=status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _authorization(domain: str, args: dict[str, str]) -> tuple[Authorization, OAuthError | None]:
    """The request's authorization, and the error to send back to its callback if it has one; problems that
    cannot be sent back (bad client, unlisted redirect URI) are :class:`PageError`."""
    pool = _pool(domain)
    client = find_client(_cloud(), pool["Id"], args.get("client_id") or "")
    if client is None or not client.get("AllowedOAuthFlowsUserPoolClient"):
        raise PageError("invalid_client")
    redirect_uri = args.get("redirect_uri") or ""
    if redirect_uri not in (client.get("CallbackURLs") or []):
        raise PageError("redirect_mismatch")
    response_type = args.get("response_type") or ""
    found = Authorization(pool=pool, client=client, response_type=response_type, redirect_uri=redirect_uri,
                          scopes=[], state=args.get("state"), code_challenge=args.get("code_challenge"),
                          nonce=args.get("nonce"))
    try:
        if response_type not in RESPONSE_TYPES:
            raise OAuthError("unsupported_response_type", "response_type must be code or token.")
        if RESPONSE_TYPES[response_type] not in (client.get("AllowedOAuthFlows") or []):
            raise OAuthError("unauthorized_client", f"The client is not allowed response_type {response_type}.")
        method = args.get("code_challenge_method")
        if found.code_challenge and method != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256.")
        if method and not found.code_challenge:
            raise OAuthError("invalid_request", "code_challenge is required with code_challenge_method.")
        with _cloud().db.read() as conn:
            defined = custom_scopes(conn, pool["Id"])
        allowed = [s for s in client.get("AllowedOAuthScopes") or [] if s in STANDARD_SCOPES or s in defined]
        found.scopes = granted_scopes(parse_scopes(args.get("scope")), allowed)
    except OAuthError as exc:
        return found, exc
    return found, None


def _authorize_query(args: dict[str, str]) -> str:
    return urlencode({name: args[name] for name in AUTHORIZE_PARAMETERS if args.get(name)})


@blueprint.errorhandler(PageError)
def _page_error(exc: PageError) -> Response:
    return _page(error_page(PAGE_ERRORS[exc.error]), exc.status)


def _oauth_error(exc: OAuthError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return response


# --- the browser's pages ------------------------------------------------------------------------------

@blueprint.get("/oauth2/authorize")
def authorize(domain: str) -> Response:
    args = request.args.to_dict()
    found, problem = _authorization(domain, args)
    if problem is not None:
        return found.refuse(problem)
    return _redirect(f"../login?{_authorize_query(args)}")


@blueprint.route("/login", methods=["GET", "POST"])
def login(domain: str) -> Response:
    """The login form, and the pages of the challenges that may follow the password."""
    args = request.args.to_dict()
    found, problem = _authorization(domain, args)
    if problem is not None:
        return found.refuse(problem)
    page = LoginPage(query=_authorize_query(args), csrf=request.cookies.get(CSRF_COOKIE) or "",
                     client_name=found.client.get("ClientName", ""), username=request.form.get("username", ""))
    if request.method == "GET":
        return page.render(domain)
    if not page.csrf or not hmac.compare_digest(page.csrf, request.form.get("_csrf", "")):
        return page.render(domain, message="Your sign-in form expired: please sign in again.")
    form = request.form
    challenge, session = form.get("challenge"), form.get("session", "")
    try:
        if challenge:
            if form.get("new_password", "") != form.get("confirm_password", form.get("new_password", "")):
                raise oauth_grants.SignInRefused("The passwords do not match.", retry=True)
            responses = {"NEW_PASSWORD": form.get("new_password", ""),
                         "SOFTWARE_TOKEN_MFA_CODE": form.get("code", "")}
            step = oauth_grants.answer(_context(), found.pool, found.client, page.username, challenge, session,
                                       responses)
        else:
            step = oauth_grants.sign_in(_context(), found.pool, found.client, page.username, form.get("password", ""))
    except oauth_grants.SignInRefused as exc:
        if challenge and exc.retry:
            return page.render(domain, message=exc.message, challenge=oauth_grants.Challenge(challenge, session))
        return page.render(domain, message=exc.message)
    if isinstance(step, oauth_grants.Challenge):
        return page.render(domain, challenge=step)
    return _signed_in(found, step)


@dataclass
class LoginPage:
    """What every page of the sign-in carries: the authorize query it posts back to, the CSRF token, the
    client's name and the username typed."""

    query: str
    csrf: str
    client_name: str
    username: str

    def render(self, domain: str, message: str = "", challenge: oauth_grants.Challenge | None = None) -> Response:
        csrf = self.csrf or secrets.token_urlsafe(32)
        if challenge is None:
            html = login_page(query=self.query, csrf=csrf, client_name=self.client_name, username=self.username,
                              message=message)
        else:
            html = challenge_page(query=self.query, csrf=csrf, username=self.username, challenge=challenge.name,
                                  session=challenge.session, message=message)
        response = _page(html)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Lax", secure=request.is_secure,
                            path="/" if request.environ.get(BY_NAME) else f"{PATH_PREFIX}{domain}")
        return response


def _context() -> RequestContext:
    cloud = _cloud()
    return RequestContext(cloud=cloud, service="cognito-idp", operation="HostedUILogin",
                          request_id=str(uuid.uuid4()), region=cloud.config.region, principal=ANONYMOUS,
                          source_ip=request.remote_addr or "", user_agent=request.headers.get("User-Agent", ""),
                          secure_transport=request.is_secure, host=request.host)


def _signed_in(found: Authorization, user: dict[str, Any]) -> Response:
    cloud = _cloud()
    if found.response_type == "token":
        params = oauth_grants.implicit_tokens(cloud, found.pool, found.client, user, found.scopes, found.nonce)
        return _redirect(redirect_with(found.redirect_uri, {**params, "state": found.state}, fragment=True))
    code = oauth_grants.new_code(cloud, found.client, user, found.redirect_uri, found.scopes, found.code_challenge,
                                 found.nonce)
    return _redirect(redirect_with(found.redirect_uri, {"code": code, "state": found.state}))


@blueprint.get("/logout")
def logout(domain: str) -> Response:
    """To a sign-out URL of the client (``logout_uri``), or to the login page again (``redirect_uri`` and
    ``response_type``, checked as /oauth2/authorize checks them)."""
    args = request.args.to_dict()
    pool = _pool(domain)
    client = find_client(_cloud(), pool["Id"], args.get("client_id") or "")
    if client is None or not client.get("AllowedOAuthFlowsUserPoolClient"):
        raise PageError("invalid_client")
    if args.get("logout_uri"):
        if args["logout_uri"] not in (client.get("LogoutURLs") or []):
            raise PageError("logout_mismatch")
        return _redirect(args["logout_uri"])
    found, problem = _authorization(domain, args)
    if problem is not None:
        return found.refuse(problem)
    return _redirect(f"login?{_authorize_query(args)}")


@blueprint.get("/error")
def error(domain: str) -> Response:
    return _page(error_page(PAGE_ERRORS.get(request.args.get("error", ""), "Something went wrong.")), 400)


# --- the back channel ---------------------------------------------------------------------------------

def _cors(response: Response) -> Response:
    """Browser apps (public clients with PKCE) call these endpoints from their own origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


def _no_store(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return _cors(response)


def _back_channel(domain: str, run: Callable[[dict[str, Any]], Response]) -> Response:
    """Answer a back-channel request: CORS preflight, an unknown domain, or ``run(pool)``; OAuth errors as JSON."""
    if request.method == "OPTIONS":
        return _cors(Response(status=204))
    row = find_domain(_cloud(), domain)
    pool = find_pool(_cloud(), row["pool_id"]) if row else None
    try:
        if pool is None:
            raise OAuthError("invalid_request", PAGE_ERRORS["unknown_domain"], status=404)
        return run(pool)
    except OAuthError as exc:
        return _cors(_oauth_error(exc))


@blueprint.route("/oauth2/token", methods=["POST", "OPTIONS"])
def token(domain: str) -> Response:
    def run(pool: dict[str, Any]) -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
        return _no_store(oauth_grants.token(_cloud(), pool, request.form.to_dict(),
                                            request.headers.get("Authorization")))
    return _back_channel(domain, run)


@blueprint.route("/oauth2/userInfo", methods=["GET", "POST", "OPTIONS"])
def userinfo(domain: str) -> Response:
    return _back_channel(domain, lambda pool: _no_store(
        oauth_grants.userinfo(_cloud(), pool["Id"], request.headers.get("Authorization"))))


@blueprint.route("/oauth2/revoke", methods=["POST", "OPTIONS"])
def revoke(domain: str) -> Response:
    def run(pool: dict[str, Any]) -> Response:
        oauth_grants.revoke(_cloud(), pool["Id"], request.form.to_dict(), request.headers.get("Authorization"))
        return _cors(Response(status=200))
    return _back_channel(domain, run)


@blueprint.route("/", defaults={"rest": ""}, methods=["GET", "POST"])
@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
def unknown(domain: str, rest: str) -> Response:
    """Anything else under a domain is not found (it must not reach the AWS API behind)."""
    del rest
    _pool(domain)
    return _page(error_page("This page does not exist."), 404)
