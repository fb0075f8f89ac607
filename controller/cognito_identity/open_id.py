"""GetOpenIdToken: an identity's OpenID Connect token, as the basic (classic) flow uses it.

The token is what AWS's Cognito Identity signs: ``iss`` ``https://cognito-identity.amazonaws.com``, ``aud``
the identity pool, ``sub`` the identity, ``amr`` ``authenticated`` and the login providers (or
``unauthenticated``), valid 10 minutes. STS's AssumeRoleWithWebIdentity takes it for roles that trust the
``cognito-identity.amazonaws.com`` principal, with the same ``cognito-identity.amazonaws.com:aud/sub/amr``
condition keys as GetCredentialsForIdentity. The key is this cloud's (made on first use, RS256 through
PyJWT); ``auth/oidc.py`` reads its public half from :func:`jwks` when a token names this issuer.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert, select

from controller.cognito_identity.state import openid_keys

ISSUER = "https://cognito-identity.amazonaws.com"
TOKEN_SECONDS = 600


def _b64int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode().rstrip("=")


def _signing_key(cloud: Any) -> tuple[str, Any]:
    with cloud.db.read() as conn:
        row = conn.execute(select(openid_keys).order_by(openid_keys.c.created_at.desc())).mappings().first()
    if row is None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        kid = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode().rstrip("=")
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        jwk = {"kty": "RSA", "alg": "RS512", "use": "sig", "kid": kid, "e": _b64int(numbers.e),
               "n": _b64int(numbers.n)}
        with cloud.db.begin() as conn:
            if conn.execute(select(openid_keys.c.kid)).first() is None:   # two first callers: one key is kept
                conn.execute(insert(openid_keys).values(kid=kid, private_pem=cloud.secrets.encrypt(pem),
                                                        public_jwk=jwk, created_at=time.time()))
        return _signing_key(cloud)
    pem = cloud.secrets.decrypt(row["private_pem"]).encode()
    return row["kid"], serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)


def jwks(cloud: Any) -> list[dict[str, Any]]:
    """The public keys of this cloud's identity tokens."""
    with cloud.db.read() as conn:
        return [row[0] for row in conn.execute(select(openid_keys.c.public_jwk))]


def issue(cloud: Any, *, pool_id: str, pool_arn: str, identity_id: str, amr: list[str]) -> str:
    """A signed identity token (AWS signs these with RS512, and so does this cloud)."""
    kid, key = _signing_key(cloud)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": identity_id, "aud": pool_id, "amr": amr, "iat": now,
              "exp": now + TOKEN_SECONDS, f"{ISSUER}/identity-pool-arn": pool_arn}
    return jwt.encode(claims, key, algorithm="RS512", headers={"kid": kid})
