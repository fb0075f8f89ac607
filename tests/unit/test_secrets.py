"""Secrets at rest: the key file, encryption round trips, and AWS-shaped new keys."""

from __future__ import annotations

import logging
import os
import re
import stat
import threading

import pytest

from controller.auth.secrets import (
    InsecureKeyFileError,
    SecretBox,
    SecretDecryptionError,
    new_access_key_id,
    new_secret_access_key,
)


def test_the_key_file_is_created_private_and_reused(tmp_path):
    path = tmp_path / "data" / "secret.key"
    box = SecretBox(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = box.encrypt("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in token and token.isascii()
    assert SecretBox(path).decrypt(token) == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path, mode):
    path = tmp_path / "secret.key"
    SecretBox(path)
    os.chmod(path, mode)
    with pytest.raises(InsecureKeyFileError, match="chmod 600"):
        SecretBox(path)


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path):
    path = tmp_path / "secret.key"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="does not hold a key"):
        SecretBox(path)


def test_a_directory_is_not_a_key_file(tmp_path):
    path = tmp_path / "secret.key"
    path.mkdir(mode=0o700)
    with pytest.raises(InsecureKeyFileError):
        SecretBox(path)


def test_round_trips_and_fresh_ciphertexts(tmp_path):
    box = SecretBox(tmp_path / "k")
    for value in ["", "a", "ü 中 😀", "x" * 10000, new_secret_access_key()]:
        first, second = box.encrypt(value), box.encrypt(value)
        assert first != second
        assert box.decrypt(first) == box.decrypt(second) == value


def test_another_key_or_a_tampered_token_cannot_decrypt(tmp_path):
    token = SecretBox(tmp_path / "one").encrypt("topsecretvalue")
    with pytest.raises(SecretDecryptionError) as raised:
        SecretBox(tmp_path / "two").decrypt(token)
    assert "topsecretvalue" not in str(raised.value) and token not in str(raised.value)
    box = SecretBox(tmp_path / "one")
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(SecretDecryptionError):
        box.decrypt(tampered)
    with pytest.raises(SecretDecryptionError):
        box.decrypt("ü not ascii")


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    path = tmp_path / "secret.key"
    boxes: list[SecretBox] = []
    threads = [threading.Thread(target=lambda: boxes.append(SecretBox(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token = boxes[0].encrypt("shared")
    assert all(box.decrypt(token) == "shared" for box in boxes)
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_nothing_secret_is_logged_or_shown(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    box = SecretBox(tmp_path / "k")
    key = (tmp_path / "k").read_text().strip()
    box.decrypt(box.encrypt("topsecretvalue"))
    assert "topsecretvalue" not in caplog.text and key not in caplog.text
    assert key not in repr(box) and key not in str(vars(box))


def test_decryption_is_cached(tmp_path):
    box = SecretBox(tmp_path / "k")
    token = box.encrypt("value")
    box.decrypt(token)
    box.decrypt(token)
    assert box._decrypt_cached.cache_info().hits == 1


def test_access_key_ids_look_like_aws_ones():
    ids = {new_access_key_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"AKIA[A-Z2-7]{16}", key) for key in ids)
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", new_access_key_id("ASIA"))
    assert set("".join(ids)[4:]) >= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") - set("AKI")


def test_secret_access_keys_look_like_aws_ones():
    keys = {new_secret_access_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{40}", key) for key in keys)
