"""The server half of Cognito's SRP agrees with a client's (pycognito's) on the session key, and only
when the password is right."""

from __future__ import annotations

from pycognito.aws_srp import AWSSRP

from controller.cognito_idp import srp

POOL = "home-1_AbC123"


def _client(password: str) -> AWSSRP:
    return AWSSRP(username="dave", password=password, pool_id=POOL, client_id="c", client=object())


def test_both_sides_derive_the_same_key_for_the_right_password() -> None:
    salt, verifier = srp.verifier_for(POOL, "dave", "s3cret!")
    b, big_b = srp.server_ephemeral(verifier)
    right, wrong = _client("s3cret!"), _client("s3cret?")
    for client, same in ((right, True), (wrong, False)):
        theirs = client.get_password_authentication_key("dave", client.password, big_b, salt)
        ours = srp.session_key(client.large_a_value, big_b, b, verifier)
        assert (theirs == ours) is same


def test_numbers_are_padded_as_the_clients_hash_them() -> None:
    assert srp.pad_hex(0xABC) == "0abc" and srp.pad_hex(0x8F) == "008f" and srp.pad_hex(0x7F) == "7f"
    assert srp.pool_name(POOL) == "AbC123"


def test_a_client_value_that_is_zero_mod_n_is_refused() -> None:
    assert srp.valid_client_value("0") is None
    assert srp.valid_client_value(f"{srp.N * 2:x}") is None
    assert srp.valid_client_value("not hex") is None
    assert srp.valid_client_value("abc") == 0xABC
