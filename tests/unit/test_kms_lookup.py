"""KMS for other services (contract B): data keys, decryption, managed keys and key states, in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.kms import lookup, records, state
from controller.kms.master import master_key_path
from controller.state import utcnow

ACCOUNT = "111111111111"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    made = Cloud(Config(data_dir=tmp_path / "data"))
    made.start()
    yield made
    made.close()


def _customer_key(cloud: Cloud) -> str:
    with cloud.db.begin() as conn:
        key_id = records.create_key(cloud, conn, ACCOUNT, records.Region.of(cloud, cloud.config.region),
                                    manager="CUSTOMER", description="test")
    return key_id


def _set(cloud: Cloud, key_id: str, **values: object) -> None:
    with cloud.db.begin() as conn:
        conn.execute(update(state.keys).where(state.keys.c.key_id == key_id).values(**values))


def test_master_key_is_a_private_file_outside_the_database(cloud: Cloud) -> None:
    path = master_key_path(cloud)
    assert path == cloud.config.data_dir / "kms-master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_bytes()) == 32


def test_data_key_round_trip_with_its_context(cloud: Cloud) -> None:
    key_id = _customer_key(cloud)
    data_key = lookup.generate_data_key(cloud, ACCOUNT, key_id, {"bucket": "b"})
    assert len(data_key.plaintext) == 32
    assert data_key.key_arn == f"arn:aws:kms:home-1:{ACCOUNT}:key/{key_id}"
    assert data_key.plaintext not in data_key.ciphertext
    assert lookup.decrypt(cloud, ACCOUNT, data_key.ciphertext, {"bucket": "b"}) == data_key.plaintext
    with pytest.raises(ServiceError) as wrong:
        lookup.decrypt(cloud, ACCOUNT, data_key.ciphertext, {"bucket": "other"})
    assert wrong.value.code == "InvalidCiphertextException"


def test_managed_key_is_made_once_on_first_use(cloud: Cloud) -> None:
    arn = lookup.resolve_key(cloud, ACCOUNT, "alias/aws/s3")
    assert lookup.resolve_key(cloud, ACCOUNT, "alias/aws/s3") == arn
    assert lookup.resolve_key(cloud, ACCOUNT, arn) == arn
    with cloud.db.read() as conn:
        row = records.find_key(conn, ACCOUNT, arn, utcnow())
    assert row is not None and row["manager"] == "AWS"
    assert '"kms:ViaService" : "s3.home-1.amazonaws.com"' in row["policy"]


def test_unknown_references_are_not_found(cloud: Cloud) -> None:
    for ref in ("alias/nothing", "alias/aws/unknown-service", "1234abcd-12ab-34cd-56ef-1234567890ab"):
        with pytest.raises(ServiceError) as missing:
            lookup.resolve_key(cloud, ACCOUNT, ref)
        assert missing.value.code == "NotFoundException", ref


def test_disabled_and_pending_deletion_keys_refuse_cryptography(cloud: Cloud) -> None:
    key_id = _customer_key(cloud)
    blob = lookup.generate_data_key(cloud, ACCOUNT, key_id, {}).ciphertext
    _set(cloud, key_id, enabled=False)
    for call in (lambda: lookup.generate_data_key(cloud, ACCOUNT, key_id, {}),
                 lambda: lookup.decrypt(cloud, ACCOUNT, blob, {})):
        with pytest.raises(ServiceError) as disabled:
            call()
        assert disabled.value.code == "DisabledException"
    _set(cloud, key_id, deletion_date=utcnow() + dt.timedelta(days=7))
    with pytest.raises(ServiceError) as pending:
        lookup.decrypt(cloud, ACCOUNT, blob, {})
    assert pending.value.code == "KMSInvalidStateException"
    _set(cloud, key_id, deletion_date=utcnow() - dt.timedelta(seconds=1))
    with pytest.raises(ServiceError) as gone:
        lookup.resolve_key(cloud, ACCOUNT, key_id)
    assert gone.value.code == "NotFoundException"
    with pytest.raises(ServiceError) as unreadable:
        lookup.decrypt(cloud, ACCOUNT, blob, {})
    assert (unreadable.value.code, unreadable.value.message) == (
        "NotFoundException", f"Key 'arn:aws:kms:home-1:{ACCOUNT}:key/{key_id}' does not exist")
    with cloud.db.begin() as conn:
        records.purge_deleted(conn, utcnow())
    with pytest.raises(ServiceError) as purged:
        lookup.decrypt(cloud, ACCOUNT, blob, {})
    assert purged.value.code == "NotFoundException"
