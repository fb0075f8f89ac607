"""Pure password and secret rules: the pool's password policy, password hashing, SECRET_HASH and codes.

Passwords are kept as scrypt hashes (n=2**14, r=8, p=1: the interactive-login setting) with a random
salt, in the ``scrypt$<salt hex>$<hash hex>`` form so the parameters can change without a migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from typing import Any

DEFAULT_POLICY = {"MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
                  "RequireNumbers": True, "RequireSymbols": True, "TemporaryPasswordValidityDays": 7}
#: The symbols Cognito's RequireSymbols counts (its documented special characters).
SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def policy_of(pool: dict[str, Any]) -> dict[str, Any]:
    """The pool's password policy with Cognito's defaults for what it leaves out."""
    return {**DEFAULT_POLICY, **((pool.get("Policies") or {}).get("PasswordPolicy") or {})}


def policy_problem(policy: dict[str, Any], password: str) -> str | None:
    """What the password lacks, worded as Cognito's InvalidPasswordException, or None when it conforms."""
    prefix = "Password did not conform with policy: "
    if len(password) < int(policy.get("MinimumLength", 8)):
        return prefix + "Password not long enough"
    if policy.get("RequireLowercase") and not any(c.islower() for c in password):
        return prefix + "Password must have lowercase characters"
    if policy.get("RequireUppercase") and not any(c.isupper() for c in password):
        return prefix + "Password must have uppercase characters"
    if policy.get("RequireNumbers") and not any(c.isdigit() for c in password):
        return prefix + "Password must have numeric characters"
    if policy.get("RequireSymbols") and not any(c in SYMBOLS for c in password):
        return prefix + "Password must have symbol characters"
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time)."""
    if not stored:
        return False
    scheme, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(actual.hex(), digest)


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """Cognito's SECRET_HASH: Base64(HMAC-SHA256(key=client secret, message=username + client id))."""
    mac = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def new_code() -> str:
    """A six-digit confirmation code, as Cognito's default messages send."""
    return f"{secrets.randbelow(10 ** 6):06d}"


def temporary_password(policy: dict[str, Any]) -> str:
    """A random password that satisfies ``policy`` (AdminCreateUser without TemporaryPassword)."""
    length = max(int(policy.get("MinimumLength", 8)), 12)
    pools = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "^$*.!@#%&"]
    chars = [secrets.choice(pool) for pool in pools]
    alphabet = "".join(pools)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def mask(destination: str) -> str:
    """A delivery destination as CodeDeliveryDetails shows it: ``a***@e***`` or ``+*******1234``."""
    if "@" in destination:
        local, domain = destination.split("@", 1)
        return f"{local[:1]}***@{domain[:1]}***"
    return "+" + "*" * max(len(destination) - 5, 0) + destination[-4:]
