"""SRP-6a as Cognito speaks it (USER_SRP_AUTH): pure arithmetic, no state.

The parameters and encodings are those of AWS's own clients (amazon-cognito-identity-js'
AuthenticationHelper, and pycognito's aws_srp.py after it), so any of them signs in unchanged: the 3072-bit
group of RFC 5054 with g = 2, k = H(pad(N) | pad(g)), hex strings padded to whole bytes with a leading 00
when the top bit is set, x = H(salt | H(pool name | user id | ":" | password)), the session key through
HKDF-SHA256 with the info "Caldera Derived Key", and the password claim an HMAC of the pool name, the user
id, the secret block and the client's timestamp. The server never sees the password during a sign-in: it
keeps the salt and the verifier g^x that :func:`verifier_for` made when the password was set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
_INFO = b"Caldera Derived Key\x01"


def pad_hex(value: int | str) -> str:
    """A number as the clients hash it: hex, whole bytes, a leading 00 when the top bit would be set."""
    text = value if isinstance(value, str) else f"{value:x}"
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89ABCDEFabcdef" else text


def _hash_hex(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


K = int(_hash_hex(pad_hex(N) + pad_hex(G)), 16)


def pool_name(pool_id: str) -> str:
    """What SRP hashes for the pool: the part of ``home-1_AbC123`` after the underscore."""
    return pool_id.split("_", 1)[1]


def _x(pool_id: str, user_id: str, password: str, salt_hex: str) -> int:
    identity = hashlib.sha256(f"{pool_name(pool_id)}{user_id}:{password}".encode()).hexdigest()
    return int(_hash_hex(pad_hex(salt_hex) + identity), 16)


def verifier_for(pool_id: str, user_id: str, password: str) -> tuple[str, str]:
    """``(salt, verifier)`` in hex for a new password: what the pool keeps instead of it for SRP."""
    salt_hex = pad_hex(secrets.randbits(128) | 1 << 127)
    return salt_hex, f"{pow(G, _x(pool_id, user_id, password, salt_hex), N):x}"


def server_ephemeral(verifier_hex: str) -> tuple[int, int]:
    """``(b, B)``: the server's secret for one sign-in and the public value the client gets as SRP_B."""
    verifier = int(verifier_hex, 16)
    while True:
        b = secrets.randbits(1024) % N
        big_b = (K * verifier + pow(G, b, N)) % N
        if b and big_b:
            return b, big_b


def valid_client_value(big_a_hex: str) -> int | None:
    """The client's A, or None when it is not a usable SRP_A (not hex, or 0 mod N: the classic attack)."""
    try:
        big_a = int(big_a_hex, 16)
    except ValueError:
        return None
    return big_a if big_a % N else None


def session_key(big_a: int, big_b: int, b: int, verifier_hex: str) -> bytes:
    """The 16-byte key both sides derive: HKDF(S, salt=u) with S = (A * v^u)^b mod N."""
    u = int(_hash_hex(pad_hex(big_a) + pad_hex(big_b)), 16)
    shared = pow(big_a * pow(int(verifier_hex, 16), u, N), b, N)
    prk = hmac.new(bytes.fromhex(pad_hex(f"{u:x}")), bytes.fromhex(pad_hex(shared)), hashlib.sha256).digest()
    return hmac.new(prk, _INFO, hashlib.sha256).digest()[:16]


def claim_signature(key: bytes, pool_id: str, user_id: str, secret_block: bytes, timestamp: str) -> str:
    """PASSWORD_CLAIM_SIGNATURE as a client that knows the password computes it."""
    message = pool_name(pool_id).encode() + user_id.encode() + secret_block + timestamp.encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
