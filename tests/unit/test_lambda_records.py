"""Lambda's pure pieces: how callers name functions, the code store, sealed environments, alias routes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from controller.awslambda import code_store, code_urls, environment, records
from controller.awslambda.code_source import from_code
from controller.awslambda.errors import InvalidParameterValueException, RequestTooLargeException
from controller.awslambda.lookup import alias_routes
from controller.cloud import Cloud
from controller.config import Config
from controller.wsgi import create_app

ACCOUNT = "111111111111"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    made = Cloud(Config(data_dir=tmp_path / "data"))
    made.start()
    yield made
    made.close()


@pytest.mark.parametrize(("given", "qualifier", "expected"), [
    ("fn", None, ("222222222222", "home-1", "fn", None)),
    ("fn:live", None, ("222222222222", "home-1", "fn", "live")),
    ("fn", "3", ("222222222222", "home-1", "fn", "3")),
    ("123456789012:function:fn", None, ("123456789012", "home-1", "fn", None)),
    ("123456789012:function:fn:$LATEST", "$LATEST", ("123456789012", "home-1", "fn", "$LATEST")),
    ("arn:aws:lambda:us-east-1:123456789012:function:fn:7", None, ("123456789012", "us-east-1", "fn", "7")),
])
def test_function_names_resolve_as_lambda_reads_them(given: str, qualifier: str | None,
                                                     expected: tuple[str, ...]) -> None:
    ref = records.parse_function(given, qualifier, account_id="222222222222", region="home-1")
    assert (ref.account_id, ref.region, ref.name, ref.qualifier) == expected


@pytest.mark.parametrize("given", ["", "a" * 65, "fn:a:b", "arn:aws:s3:::bucket", "12:function:fn", "fn name"])
def test_malformed_function_names_are_invalid_parameters(given: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        records.parse_function(given, None, account_id=ACCOUNT, region="home-1")


def test_a_suffix_contradicting_the_qualifier_is_refused() -> None:
    with pytest.raises(InvalidParameterValueException, match="derived qualifier"):
        records.parse_function("fn:1", "2", account_id=ACCOUNT, region="home-1")


def test_last_modified_has_milliseconds_and_an_offset() -> None:
    import datetime as dt
    moment = dt.datetime(2026, 12, 4, 19, 0, 0, 123456, tzinfo=dt.UTC)
    assert records.timestamp(moment) == "2026-12-04T19:00:00.123+0000"


def test_alias_routes_give_the_primary_the_remaining_weight() -> None:
    assert alias_routes("1", {}) == (("1", 1.0),)
    routes = alias_routes("1", {"2": 0.1})
    assert routes[1] == ("2", 0.1) and routes[0][0] == "1" and abs(routes[0][1] - 0.9) < 1e-9


def test_code_store_names_blobs_by_their_sha256(cloud: Cloud) -> None:
    ref = code_store.put(cloud, b"package")
    digest = hashlib.sha256(b"package")
    assert (ref.sha256_hex, ref.sha256_b64, ref.size) == (
        digest.hexdigest(), base64.b64encode(digest.digest()).decode(), 7)
    path = code_store.open_path(cloud, ref.sha256_hex)
    assert path is not None and path.read_bytes() == b"package"
    assert code_store.put(cloud, b"package") == ref
    assert code_store.open_path(cloud, "0" * 64) is None
    assert code_store.open_path(cloud, "../state.db") is None


def test_environment_is_sealed_under_kms_and_bound_to_its_function(cloud: Cloud) -> None:
    arn = records.function_arn("home-1", ACCOUNT, "fn")
    sealed = environment.seal(cloud, ACCOUNT, arn, {"GREETING": "hello"}, None)
    assert "hello" not in str(sealed)
    assert environment.unseal(cloud, ACCOUNT, arn, sealed) == {"GREETING": "hello"}
    other = environment.readable(cloud, ACCOUNT, records.function_arn("home-1", ACCOUNT, "other"), sealed)
    assert other is not None and "Error" in other


def test_environment_limits_are_lambdas() -> None:
    with pytest.raises(InvalidParameterValueException, match="reserved keys"):
        environment.check({"AWS_REGION": "x"})
    with pytest.raises(InvalidParameterValueException, match="4KB"):
        environment.check({"BIG": "x" * 4100})
    environment.check({"SMALL": "x" * 1000})


def test_a_zip_past_50_mb_is_too_large_a_request() -> None:
    with pytest.raises(RequestTooLargeException, match="69905067 bytes for the CreateFunction operation"):
        from_code(None, {"ZipFile": b"\0" * (50 * 1024 * 1024 + 1)}, "CreateFunction")  # type: ignore[arg-type]


def test_presigned_code_urls_serve_one_package_until_they_expire(cloud: Cloud) -> None:
    ref = code_store.put(cloud, b"zip bytes")
    other = code_store.put(cloud, b"other bytes")
    client = create_app(cloud).test_client()
    caller = SimpleNamespace(cloud=cloud, host="cloudlet.test", secure_transport=False)
    url = code_urls.presigned(caller, ref.sha256_hex)
    assert url.startswith(f"http://cloudlet.test{code_urls.PATH_PREFIX}/{ref.sha256_hex}?expires=")
    path = url.removeprefix("http://cloudlet.test")
    assert client.get(path).data == b"zip bytes"
    assert client.get(path.replace(ref.sha256_hex, other.sha256_hex)).status_code == 403
    expired = f"{code_urls.PATH_PREFIX}/{ref.sha256_hex}?expires=1&signature={code_urls.sign(cloud, ref.sha256_hex, 1)}"
    assert client.get(expired).status_code == 403
