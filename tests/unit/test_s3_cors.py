"""CORS: rule matching, preflight answers and headers on actual responses."""

from __future__ import annotations

import pytest

from controller.errors import ServiceError
from controller.protocol.http import HttpRequest
from controller.s3 import cors
from tests.unit.harness import Clouds, S3Harness

RULES = [{"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["https://*.example.com"],
          "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 300},
         {"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    harness = clouds.s3()
    harness.call("CreateBucket", {"Bucket": "site"})
    harness.call("CreateBucket", {"Bucket": "closed"})
    harness.call("PutBucketCors", {"Bucket": "site", "CORSConfiguration": {"CORSRules": RULES}})
    return harness


def preflight(s3h: S3Harness, path: str, **headers: str):
    request = HttpRequest("OPTIONS", path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    return cors.preflight(s3h.cloud, request)


def test_find_rule() -> None:
    assert cors.find_rule(RULES, "https://app.example.com", "GET", ["x-amz-date"]) is RULES[0]
    assert cors.find_rule(RULES, "https://app.example.com", "GET", ["authorization"]) is None
    assert cors.find_rule(RULES, "http://evil.test", "PUT") is RULES[1]
    assert cors.find_rule(RULES, "http://evil.test", "GET") is None


def test_preflight_allowed(s3h: S3Harness) -> None:
    response = preflight(s3h, "/site/index.html", origin="https://www.example.com",
                         access_control_request_method="GET", access_control_request_headers="X-Amz-Date")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert response.headers["Access-Control-Allow-Headers"] == "x-amz-date"
    assert response.headers["Access-Control-Max-Age"] == "300"
    wildcard = preflight(s3h, "/site/x", origin="http://any.test", access_control_request_method="PUT")
    assert wildcard.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(("path", "headers", "code"), [
    ("/site/x", {"origin": "http://evil.test", "access_control_request_method": "GET"}, "AccessForbidden"),
    ("/closed/x", {"origin": "http://a.test", "access_control_request_method": "GET"}, "AccessForbidden"),
    ("/site/x", {"origin": "http://a.test"}, "BadRequest"),
    ("/nope/x", {"origin": "http://a.test", "access_control_request_method": "GET"}, "NoSuchBucket"),
])
def test_preflight_refused(s3h: S3Harness, path: str, headers: dict[str, str], code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        preflight(s3h, path, **headers)
    assert excinfo.value.code == code


def test_headers_on_actual_requests(s3h: S3Harness) -> None:
    request = HttpRequest("GET", "/site/index.html", headers={"origin": "https://www.example.com"})
    headers = cors.response_headers(s3h.cloud, request)
    assert headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert headers["Access-Control-Expose-Headers"] == "ETag"
    assert cors.response_headers(s3h.cloud, HttpRequest("GET", "/closed/x", headers={"origin": "x"})) == {}
    assert cors.response_headers(s3h.cloud, HttpRequest("GET", "/site/x")) == {}
