"""Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair, with AWS's fingerprints.

The controller keeps only the public half. A created key's private half is in the CreateKeyPair
answer and nowhere else, as in AWS: RSA keys as PKCS#1 PEM, ED25519 keys in OpenSSH's format.
Instances copy the public key at launch (deleting the key pair later does not lock anyone out of a
running instance); the metadata service serves it as ``public-keys/0/openssh-key``.

Fingerprints follow AWS's rules, which differ by origin: a created RSA key shows the SHA-1 of its
PKCS#8 private key, an imported RSA key the MD5 of its public key (DER SubjectPublicKeyInfo), both
colon-separated hex; ED25519 keys show the base64 SHA-256 of the OpenSSH public key blob.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import Connection, RowMapping, delete, insert, select

from controller.api import Params, RequestContext
from controller.ec2.describe import describe
from controller.ec2.errors import InvalidParameterValue, MissingParameter, invalid_value, require
from controller.ec2.filters import check_names
from controller.ec2.ids import KEY_PAIR
from controller.ec2.instances import state as instance_state
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.state import utcnow

register_taggable(KEY_PAIR, owned_by_account(instance_state.key_pairs, "key_pair_id"))

InvalidKeyPairDuplicate = error("InvalidKeyPair.Duplicate")
InvalidKeyFormat = error("InvalidKey.Format")
RSA_SIZES = (1024, 2048, 3072, 4096)
MAX_NAME = 255


@dataclass(frozen=True)
class PublicKey:
    """A public key as stored: its OpenSSH line, AWS's type name and fingerprint."""

    openssh: str
    key_type: str
    fingerprint: str


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _openssh_line(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ed25519_fingerprint(openssh_line: str) -> str:
    """Base64 SHA-256 of the key blob (what ``ssh-keygen -l`` prints, with base64's padding as AWS shows)."""
    blob = base64.b64decode(openssh_line.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def generate(key_type: str) -> tuple[str, PublicKey]:
    """A new key pair: (private key text to hand out once, public half)."""
    if key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        text = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                     serialization.NoEncryption()).decode()
        line = _openssh_line(private.public_key())
        return text, PublicKey(line, "ed25519", ed25519_fingerprint(line))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return text, PublicKey(_openssh_line(key.public_key()), "rsa", _colon_hex(hashlib.sha1(pkcs8).digest()))


def _rfc4716_to_openssh(text: str) -> str:
    """An SSH2 public key file (RFC 4716: headers, then base64 lines) as an OpenSSH line."""
    lines = [line.strip() for line in text.strip().splitlines()[1:-1]]
    body, continued = [], False
    for line in lines:
        if continued or (":" in line and not body):
            continued = line.endswith("\\")
            continue
        body.append(line)
    blob = base64.b64decode("".join(body))
    algorithm = blob[4:4 + int.from_bytes(blob[:4], "big")].decode()
    return f"{algorithm} {base64.b64encode(blob).decode()}"


def parse_public_key(material: bytes) -> PublicKey:
    """An imported public key (OpenSSH line, PEM, or RFC 4716), or AWS's InvalidKey.Format."""
    text = material.decode("ascii", errors="replace").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            if text.startswith("---- BEGIN SSH2 PUBLIC KEY"):
                text = _rfc4716_to_openssh(text)
            key = serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode())
    except (ValueError, UnsupportedAlgorithm, IndexError, TypeError):
        raise InvalidKeyFormat("Key is not in valid OpenSSH public key format") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        line = _openssh_line(key)
        return PublicKey(line, "ed25519", ed25519_fingerprint(line))
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_SIZES:
            raise InvalidKeyFormat(f"Invalid RSA key length {key.key_size}: use 1024, 2048, 3072 or 4096 bits")
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return PublicKey(_openssh_line(key), "rsa", _colon_hex(hashlib.md5(der).digest()))  # noqa: S324 - AWS's
    raise InvalidKeyFormat("Key is not in valid OpenSSH public key format: only RSA and ED25519 keys are supported")


# --- the store ------------------------------------------------------------------------------------------------


def _check_name(name: str | None) -> str:
    if not name:
        raise MissingParameter("The request must contain the parameter KeyName")
    if len(name) > MAX_NAME or not name.isascii():
        raise invalid_value(name, "KeyName", f"Key names are up to {MAX_NAME} ASCII characters.")
    return name


def _store(conn: Connection, account: str, name: str, public: PublicKey, specs: list | None) -> tuple[str, list]:
    table = instance_state.key_pairs
    if conn.execute(select(table.c.key_pair_id).where(table.c.account_id == account,
                                                      table.c.key_name == name)).first():
        raise InvalidKeyPairDuplicate(f"The keypair '{name}' already exists.")
    key_pair_id = KEY_PAIR.new_id()
    conn.execute(insert(table).values(key_pair_id=key_pair_id, account_id=account, key_name=name,
                                      key_type=public.key_type, fingerprint=public.fingerprint,
                                      public_key=public.openssh, created_at=utcnow()))
    tags = tag_new_resource(conn, account, KEY_PAIR, key_pair_id, specs)
    return key_pair_id, tags


def find_by_name(conn: Connection, account: str, name: str) -> RowMapping:
    """The caller's key pair named ``name``, or InvalidKeyPair.NotFound (RunInstances uses this)."""
    table = instance_state.key_pairs
    row = conn.execute(select(table).where(table.c.account_id == account, table.c.key_name == name)) \
        .mappings().first()
    if row is None:
        raise ServiceError(f"The key pair '{name}' does not exist", code="InvalidKeyPair.NotFound")
    return row


def authorized_key_line(row: RowMapping) -> str:
    """The line an instance's authorized_keys gets: the key and, as comment, its name (as EC2 does)."""
    return f"{' '.join(row['public_key'].split()[:2])} {row['key_name']}"


# --- the operations ---------------------------------------------------------------------------------------------


@vpc_operation("CreateKeyPair", resources=arns((KEY_PAIR, NEW)))
def create_key_pair(ctx: RequestContext, params: Params) -> Params:
    name = _check_name(params.get("KeyName"))
    key_type = params.get("KeyType") or "rsa"
    if key_type not in ("rsa", "ed25519"):
        raise invalid_value(key_type, "KeyType")
    key_format = params.get("KeyFormat") or "pem"
    if key_format != "pem":
        raise InvalidParameterValue(f"Key format '{key_format}' is not supported here: ask for 'pem' and convert "
                                    "with puttygen if you need a PuTTY key.")
    private_text, public = generate(key_type)
    with write(ctx.cloud.db) as conn:
        key_pair_id, tags = _store(conn, ctx.account_id, name, public, params.get("TagSpecifications"))
    ctx.audit_resources.append(KEY_PAIR.arn(ctx, key_pair_id))
    return {"KeyPairId": key_pair_id, "KeyName": name, "KeyFingerprint": public.fingerprint,
            "KeyMaterial": private_text, "Tags": tags}


@vpc_operation("ImportKeyPair", resources=arns((KEY_PAIR, NEW)))
def import_key_pair(ctx: RequestContext, params: Params) -> Params:
    name = _check_name(params.get("KeyName"))
    require(params, "PublicKeyMaterial")
    material = params["PublicKeyMaterial"]
    public = parse_public_key(material if isinstance(material, bytes) else str(material).encode())
    with write(ctx.cloud.db) as conn:
        key_pair_id, tags = _store(conn, ctx.account_id, name, public, params.get("TagSpecifications"))
    ctx.audit_resources.append(KEY_PAIR.arn(ctx, key_pair_id))
    return {"KeyPairId": key_pair_id, "KeyName": name, "KeyFingerprint": public.fingerprint, "Tags": tags}


#: API_DescribeKeyPairs.html (and ``key-type``).
KEY_PAIR_FILTERS = {"key-pair-id": "KeyPairId", "key-name": "KeyName", "fingerprint": "KeyFingerprint",
                    "key-type": "KeyType"}


@vpc_operation("DescribeKeyPairs", resources=arns((KEY_PAIR, "KeyPairIds")))
def describe_key_pairs(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), KEY_PAIR_FILTERS)
    table = instance_state.key_pairs
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["key_pair_id"] for r in rows])
    names = params.get("KeyNames") or []
    missing = [n for n in names if n not in {r["key_name"] for r in rows}]
    if missing:
        raise ServiceError(f"The key pair '{missing[0]}' does not exist", code="InvalidKeyPair.NotFound")
    if names:
        rows = [r for r in rows if r["key_name"] in names]
    items = []
    for row in rows:
        item: Params = {"KeyPairId": row["key_pair_id"], "KeyName": row["key_name"], "KeyType": row["key_type"],
                        "KeyFingerprint": row["fingerprint"], "CreateTime": row["created_at"],
                        "Tags": tags[row["key_pair_id"]]}
        if params.get("IncludePublicKey"):
            item["PublicKey"] = authorized_key_line(row)
        items.append(item)
    listed, _ = describe(items, params, key="KeyPairId", ids_param="KeyPairIds", kind=KEY_PAIR,
                         fields=KEY_PAIR_FILTERS)
    return {"KeyPairs": sorted(listed, key=lambda k: k["KeyName"])}


@vpc_operation("DeleteKeyPair", resources=arns((KEY_PAIR, "KeyPairId")))
def delete_key_pair(ctx: RequestContext, params: Params) -> Params:
    """Deleting by name is idempotent, as in AWS; by id, an unknown id is an error."""
    table = instance_state.key_pairs
    key_pair_id, name = params.get("KeyPairId"), params.get("KeyName")
    if not key_pair_id and not name:
        raise MissingParameter("The request must contain the parameter KeyName or KeyPairId")
    with write(ctx.cloud.db) as conn:
        condition = table.c.key_pair_id == key_pair_id if key_pair_id else table.c.key_name == name
        found = conn.execute(select(table.c.key_pair_id).where(condition, table.c.account_id == ctx.account_id)) \
            .scalar()
        if found is None and key_pair_id:
            raise KEY_PAIR.missing([key_pair_id])
        if found is not None:
            conn.execute(delete(table).where(table.c.key_pair_id == found))
            drop_tags(conn, [found])
    result: Params = {"Return": True}
    if found:
        result["KeyPairId"] = found
    return result
