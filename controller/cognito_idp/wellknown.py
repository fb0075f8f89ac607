"""The OIDC documents of each pool, unsigned GETs as on AWS: ``/{pool_id}/.well-known/jwks.json`` and
``/{pool_id}/.well-known/openid-configuration``.

The lead mounts :data:`blueprint` at the root. Its rules only take pool ids (``{region}_{id}``: an
underscore no S3 bucket name may hold), so no bucket's ``.well-known/...`` key is ever shadowed.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.routing import BaseConverter

from controller.cognito_idp import tokens
from controller.cognito_idp.domains import pool_domain, site_url
from controller.cognito_idp.pools import find_pool


class PoolIdConverter(BaseConverter):
    """A user pool id: region, underscore, id."""

    regex = r"[a-z]+(?:-[a-z0-9]+)+_[0-9A-Za-z]+"


blueprint = Blueprint("cognito_wellknown", __name__)


@blueprint.record_once
def _register_converter(setup_state) -> None:  # noqa: ANN001 (Flask's BlueprintSetupState)
    setup_state.app.url_map.converters["cognito_pool_id"] = PoolIdConverter


def _missing(pool_id: str) -> Response:
    response = jsonify({"code": "ResourceNotFoundException", "message": f"User pool {pool_id} does not exist."})
    response.status_code = 404
    return response


@blueprint.get("/<cognito_pool_id:pool_id>/.well-known/jwks.json")
def jwks(pool_id: str) -> Response:
    cloud = current_app.config["CLOUD"]
    if find_pool(cloud, pool_id) is None:
        return _missing(pool_id)
    return jsonify(tokens.jwks(cloud, pool_id))


@blueprint.get("/<cognito_pool_id:pool_id>/.well-known/openid-configuration")
def openid_configuration(pool_id: str) -> Response:
    cloud = current_app.config["CLOUD"]
    if find_pool(cloud, pool_id) is None:
        return _missing(pool_id)
    issuer = tokens.issuer(cloud, pool_id)
    domain = pool_domain(cloud, pool_id)
    # As on AWS, the OAuth endpoints are listed once the pool has a domain to serve them (and only these:
    # Cognito's /logout takes client_id and logout_uri, not OIDC RP-initiated logout's parameters).
    endpoints = {} if domain is None else {
        "authorization_endpoint": f"{site_url(cloud, domain)}/oauth2/authorize",
        "token_endpoint": f"{site_url(cloud, domain)}/oauth2/token",
        "userinfo_endpoint": f"{site_url(cloud, domain)}/oauth2/userInfo",
    }
    return jsonify({
        "issuer": issuer,
        **endpoints,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["code", "token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified",
                             "phone_number", "phone_number_verified", "cognito:username", "cognito:groups"],
    })
