"""SigV4 verification against what botocore really signs, and against AWS's documented examples."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from controller.auth import canonical, sigv4
from controller.errors import ServiceError
from controller.protocol.http import HttpRequest

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)
EMPTY = sigv4.EMPTY_SHA256
DOC_HOST = "examplebucket.s3.amazonaws.com"

TRICKY_KEYS = ["a b", "a+b", "ü/中", "100%", "!*'()", "a~b", "a=b&c", "a:b@c$d,e;f", "a//b", "a?b#c",
               "dir/", "%2F", "tab\there", "emoji-😀", "..", "./x"]


def to_http(method: str, url: str, headers, body) -> HttpRequest:
    """What the server receives: raw path and query, lower-case Latin-1 headers, the body bytes."""
    parts = urlsplit(url)
    lowered = {}
    for name, value in headers.items():
        wire = value if isinstance(value, bytes) else value.encode("utf-8")
        lowered[name.lower()] = wire.decode("latin-1")
    lowered.setdefault("host", _host_from_url(url))
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(method, parts.path, query=parse_qsl(parts.query, keep_blank_values=True),
                       headers=lowered, body=body or b"", raw_query=parts.query)


def botocore_signed(method: str, url: str, *, signer=S3SigV4Auth, service="s3", region="us-east-1",
                    headers=None, body=b"", params=None, token=None, expires=None,
                    unsigned_payload=False) -> tuple[HttpRequest, str]:
    """Sign with botocore's own signer; returns the request as received and botocore's canonical request."""
    credentials = Credentials(KEY, SECRET, token)
    auth = signer(credentials, service, region) if expires is None else signer(credentials, service, region,
                                                                                expires=expires)
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body, params=params or {})
    if unsigned_payload:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    signed_strings = {}
    botocore_string_to_sign = auth.string_to_sign

    def spy(request, canonical_request):
        signed_strings["canonical"] = canonical_request
        return botocore_string_to_sign(request, canonical_request)

    auth.string_to_sign = spy
    auth.add_auth(request)
    prepared = request.prepare()
    return to_http(method, prepared.url, prepared.headers, prepared.body), signed_strings["canonical"]


class Captured(Exception):
    """Raised from botocore's before-send hook: the request is captured and never sent."""


def client(service: str, **config):
    made = boto3.client(service, endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(**config) if config else None)

    def capture(request, **_):
        raise Captured(request)

    made.meta.events.register("before-send.*.*", capture)
    return made


def sent(call, *args, **kwargs) -> HttpRequest:
    with pytest.raises(Captured) as captured:
        call(*args, **kwargs)
    request = captured.value.args[0]
    return to_http(request.method, request.url, request.headers, request.body)


def check(request: HttpRequest, service="s3", *, secret=SECRET, now=None, region=None) -> sigv4.SigningContext:
    info = sigv4.parse_authorization(request, service=service, region=region)
    assert info is not None
    return sigv4.verify(request, info, secret, now=now or info.amz_date, service=service)


def failure(request: HttpRequest, service="s3", **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        check(request, service, **kwargs)
    return raised.value


def doc_request(method, path, signed, signature, *, headers=None, raw_query="", body=b"") -> HttpRequest:
    """The examples of the S3 documentation (Signature Version 4, header-based authentication)."""
    authorization = (f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/aws4_request,"
                     f"SignedHeaders={signed},Signature={signature}")
    all_headers = {"host": DOC_HOST, "x-amz-date": "20130524T000000Z", "x-amz-content-sha256": EMPTY,
                   "authorization": authorization, **(headers or {})}
    return HttpRequest(method, path, headers=all_headers, raw_query=raw_query, body=body)


DOC_EXAMPLES = {
    "GET Object": lambda: doc_request(
        "GET", "/test.txt", "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", headers={"range": "bytes=0-9"}),
    "PUT Object": lambda: doc_request(
        "PUT", "/test%24file.text", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        headers={"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY",
                 "x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
        body=b"Welcome to Amazon S3."),
    "GET Bucket Lifecycle": lambda: doc_request(
        "GET", "/", "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", raw_query="lifecycle"),
    "List Objects": lambda: doc_request(
        "GET", "/", "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", raw_query="max-keys=2&prefix=J"),
    "presigned GET Object": lambda: HttpRequest("GET", "/test.txt", headers={"host": DOC_HOST}, raw_query=(
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEY}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
        "X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")),
}


@pytest.mark.parametrize("name", DOC_EXAMPLES)
def test_the_examples_of_the_s3_documentation_verify(name):
    signing = check(DOC_EXAMPLES[name](), now=T0, region="us-east-1")
    assert signing.scope == "20130524/us-east-1/s3/aws4_request"


@pytest.mark.parametrize("name", DOC_EXAMPLES)
def test_the_examples_of_the_s3_documentation_fail_with_another_secret(name):
    exc = failure(DOC_EXAMPLES[name](), now=T0, secret=SECRET[:-1])
    assert (exc.code, exc.status) == ("SignatureDoesNotMatch", 403)
    assert exc.message.startswith("The request signature we calculated does not match")
    assert exc.extra["AWSAccessKeyId"] == KEY
    assert exc.extra["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/")
    assert exc.extra["StringToSignBytes"].startswith("41 57 53 34 2d")
    assert exc.extra["CanonicalRequest"].split("\n")[0] in ("GET", "PUT")


def test_the_canonical_request_of_a_documentation_example_is_the_documented_one():
    exc = failure(DOC_EXAMPLES["GET Object"](), now=T0, secret="wrong")
    assert exc.extra["CanonicalRequest"] == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}")
    assert exc.extra["SignatureProvided"] == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_s3_put_and_get_of_tricky_keys_as_boto3_sends_them(key):
    s3 = client("s3", s3={"addressing_style": "path"})
    for request in (sent(s3.put_object, Bucket="bucket", Key=key, Body=b"data", Metadata={"m": "v  w"}),
                    sent(s3.get_object, Bucket="bucket", Key=key, Range="bytes=0-1", VersionId="a+b/c="),
                    sent(s3.put_object_tagging, Bucket="bucket", Key=key,
                         Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})):
        check(request)


@pytest.mark.parametrize("prefix", ["a b", "a+b", "~=&", "ü", "", "a%20b", "*?"])
def test_s3_list_with_tricky_query_values(prefix):
    s3 = client("s3", s3={"addressing_style": "virtual"})
    check(sent(s3.list_objects_v2, Bucket="bucket", Prefix=prefix, Delimiter="/", StartAfter="", MaxKeys=5))
    check(sent(s3.list_object_versions, Bucket="bucket", Prefix=prefix, KeyMarker=prefix))


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_s3_presigned_urls_of_boto3(key):
    s3 = client("s3", s3={"addressing_style": "path"}, signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": key,
                                                          "ResponseContentDisposition": 'attachment; a="b c"'},
                                    ExpiresIn=300)
    request = to_http("GET", url, {}, b"")
    info = sigv4.parse_authorization(request, service="s3")
    assert info.presigned and info.expires == 300 and info.payload_hash == sigv4.UNSIGNED_PAYLOAD
    sigv4.verify(request, info, SECRET, now=info.amz_date + dt.timedelta(seconds=300), service="s3")
    late = failure(request, now=info.amz_date + dt.timedelta(seconds=301))
    assert (late.code, late.message, late.status) == ("AccessDenied", "Request has expired", 403)
    assert late.extra["X-Amz-Expires"] == "300"
    assert late.extra["Expires"] == (info.amz_date + dt.timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_presigned_put_with_a_session_token_and_signed_metadata():
    request, canonical = botocore_signed(
        "PUT", "http://bucket.s3.amazonaws.com/a%20b", signer=S3SigV4QueryAuth, expires=60,
        headers={"x-amz-meta-color": "red"}, token="the/token+of=the&key")
    request.body = b"a presigned body is not signed"
    info = sigv4.parse_authorization(request, service="s3")
    assert info.security_token == "the/token+of=the&key"
    assert info.signed_headers == ("host", "x-amz-meta-color")
    check(request)
    tampered = HttpRequest(request.method, request.path, headers={**request.headers, "x-amz-meta-color": "blue"},
                           raw_query=request.raw_query)
    assert failure(tampered).extra["CanonicalRequest"] != canonical
    unsigned = HttpRequest(request.method, request.path, headers={**request.headers, "x-amz-meta-size": "1"},
                           raw_query=request.raw_query)
    exc = failure(unsigned)
    assert (exc.code, exc.extra["HeadersNotSigned"]) == ("AccessDenied", "x-amz-meta-size")


@pytest.mark.parametrize("params", [
    [("b", "2"), ("a", "1")],
    [("a", "2"), ("a", "1"), ("a", ""), ("A", "3")],
    [("acl", ""), ("b", "")],
    [("k", "1"), ("k-x", "2"), ("k.y", "3"), ("k0", "4")],
    [("k", "ü~!*'()"), ("l", "a=b"), ("m", "a:b/c"), ("n", "a+b c")],
])
@pytest.mark.parametrize("signer,service", [(S3SigV4Auth, "s3"), (SigV4Auth, "ec2")])
def test_canonical_query_strings_match_botocore(params, signer, service):
    request, canonical = botocore_signed("GET", "http://host.example:8080/bucket", signer=signer,
                                         service=service, params=params)
    exc = failure(request, service=service, secret="other")
    assert exc.extra["CanonicalRequest"] == canonical
    check(request, service)


def test_a_raw_query_is_decoded_and_encoded_the_aws_way():
    assert canonical.canonical_query_string("a=b+c&d=e%2Bf&g=%20") == "a=b%20c&d=e%2Bf&g=%20"
    assert canonical.canonical_query_string("k=%c3%bc~!*'()&l=a=b&m=a:b/c") == \
        "k=%C3%BC~%21%2A%27%28%29&l=a%3Db&m=a%3Ab%2Fc"
    assert canonical.canonical_query_string("acl&&b=") == "acl=&b="
    assert canonical.canonical_query_string("X-Amz-Signature=00&a=1", drop_signature=True) == "a=1"


@pytest.mark.parametrize("raw,s3,expected", [
    ("/test-bucket/a%20b/a+b", True, "/test-bucket/a%20b/a%2Bb"),
    ("/test-bucket/%c3%bc/%E4%B8%AD", True, "/test-bucket/%C3%BC/%E4%B8%AD"),
    ("/test-bucket/!*'()~=&:@$,;", True, "/test-bucket/%21%2A%27%28%29~%3D%26%3A%40%24%2C%3B"),
    ("/test-bucket/%7E%2F", True, "/test-bucket/~%2F"),
    ("/test-bucket/100%25/100%", True, "/test-bucket/100%25/100%25"),
    ("/test-bucket//a//b/./../", True, "/test-bucket//a//b/./../"),
    ("/", False, "/"),
    ("", False, "/"),
    ("/a//b/./c/../d/", False, "/a/b/d/"),
    ("/a%20b", False, "/a%2520b"),
])
def test_canonical_uris(raw, s3, expected):
    assert canonical.canonical_uri(raw, s3=s3) == expected


@pytest.mark.parametrize("service,call,kwargs", [
    ("sts", "get_caller_identity", {}),
    ("sts", "assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s ü+=",
                            "Tags": [{"Key": "k", "Value": "a b~*"}]}),
    ("iam", "create_user", {"UserName": "u", "Path": "/a/b/", "Tags": [{"Key": "ü", "Value": "+ &="}]}),
    ("ec2", "describe_instances", {"Filters": [{"Name": "tag:Name", "Values": ["a b", "*?"]}]}),
    ("organizations", "list_accounts", {}),
    ("cloudtrail", "lookup_events", {"MaxResults": 5}),
])
def test_other_services_as_boto3_sends_them(service, call, kwargs):
    made = client(service)
    request = sent(getattr(made, call), **kwargs)
    info = sigv4.parse_authorization(request, service=service, region="us-east-1")
    assert info.service == service and info.region == "us-east-1"
    sigv4.verify(request, info, SECRET, now=info.amz_date, service=service)
    tampered = HttpRequest(request.method, request.path, headers=request.headers, raw_query=request.raw_query,
                           body=request.body + b"&x=1" if request.body else b"x")
    with pytest.raises(ServiceError) as raised:
        sigv4.verify(tampered, info, SECRET, now=info.amz_date, service=service)
    assert (raised.value.code, raised.value.status) == ("SignatureDoesNotMatch", 403)
    assert "Check your AWS Secret Access Key" in raised.value.message


def test_sts_presigned_get_caller_identity_like_eks_tokens():
    sts = client("sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    request = to_http("GET", url, {}, b"")
    info = sigv4.parse_authorization(request, service="sts")
    assert info.presigned and info.payload_hash is None
    sigv4.verify(request, info, SECRET, now=info.amz_date + dt.timedelta(minutes=15), service="sts")
    exc = failure(request, "sts", now=info.amz_date + dt.timedelta(minutes=15, seconds=1))
    assert exc.code == "SignatureDoesNotMatch" and exc.message.startswith(f"Signature expired: {info.timestamp}")


def test_botocore_query_signer_for_another_service():
    request, _ = botocore_signed("GET", "http://127.0.0.1:9/", signer=SigV4QueryAuth, service="iam",
                                 params={"Action": "ListUsers", "Version": "2010-05-08"})
    check(request, "iam")


def test_s3_with_unsigned_payload_and_a_body_that_differs():
    request, _ = botocore_signed("PUT", "https://bucket.s3.amazonaws.com/key", body=b"abc",
                                 headers={"Content-MD5": "kAFQmDzST7DWlj99KOF/cg=="}, unsigned_payload=True)
    assert request.headers["x-amz-content-sha256"] == sigv4.UNSIGNED_PAYLOAD
    request.body = b"another body"
    check(request)


def test_s3_signs_the_declared_payload_hash_not_the_body():
    request, _ = botocore_signed("PUT", "http://127.0.0.1:9/bucket/key", body=b"abc")
    info = sigv4.parse_authorization(request, service="s3")
    assert info.payload_hash == sigv4.hashlib.sha256(b"abc").hexdigest()
    request.headers["x-amz-content-sha256"] = sigv4.hashlib.sha256(b"abd").hexdigest()
    assert failure(request).code == "SignatureDoesNotMatch"


def test_an_uppercase_signature_is_the_same_signature():
    request = DOC_EXAMPLES["GET Object"]()
    head, _, signature = request.headers["authorization"].rpartition("=")
    request.headers["authorization"] = f"{head}={signature.upper()}"
    check(request, now=T0)


@pytest.mark.parametrize("edit", ["header", "query", "path", "method", "date"])
def test_tampering_breaks_the_signature(edit):
    request, _ = botocore_signed("GET", "http://127.0.0.1:9/bucket/key?versionId=1",
                                 headers={"Range": "bytes=0-1"})
    if edit == "header":
        request.headers["range"] = "bytes=0-2"
    elif edit == "query":
        request.raw_query = request.raw_query.replace("versionId=1", "versionId=2")
    elif edit == "path":
        request.path = "/bucket/kez"
    elif edit == "method":
        request.method = "DELETE"
    else:
        stamp = request.headers["x-amz-date"]
        request.headers["x-amz-date"] = stamp[:-3] + ("00Z" if stamp[-3:-1] != "00" else "01Z")
    assert failure(request).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("seconds,code", [(-900, None), (900, None), (-901, "RequestTimeTooSkewed"),
                                          (901, "RequestTimeTooSkewed")])
def test_s3_time_skew(seconds, code):
    request = DOC_EXAMPLES["GET Object"]()
    now = T0 - dt.timedelta(seconds=seconds)
    if code is None:
        check(request, now=now)
        return
    exc = failure(request, now=now)
    assert (exc.code, exc.status) == (code, 403)
    assert exc.extra == {"RequestTime": "20130524T000000Z", "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "MaxAllowedSkewMilliseconds": "900000"}


def test_s3_checks_the_signature_before_the_time():
    exc = failure(DOC_EXAMPLES["GET Object"](), now=T0 + dt.timedelta(hours=1), secret="wrong")
    assert exc.code == "SignatureDoesNotMatch"


def test_other_services_check_the_time_first_with_their_messages():
    request, _ = botocore_signed("POST", "http://127.0.0.1:9/", signer=SigV4Auth, service="sts",
                                 body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    info = sigv4.parse_authorization(request, service="sts")
    stamp = info.timestamp
    old = failure(request, "sts", now=info.amz_date + dt.timedelta(minutes=16), secret="wrong")
    earlier = (info.amz_date + dt.timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    now = (info.amz_date + dt.timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    assert old.message == f"Signature expired: {stamp} is now earlier than {earlier} ({now} - 15 min.)"
    new = failure(request, "sts", now=info.amz_date - dt.timedelta(minutes=16))
    assert new.message.startswith(f"Signature not yet current: {stamp} is still later than ")


def test_presigned_validity_window():
    request = DOC_EXAMPLES["presigned GET Object"]()
    check(request, now=T0 + dt.timedelta(seconds=86400))
    check(request, now=T0 - dt.timedelta(minutes=15))
    early = failure(request, now=T0 - dt.timedelta(minutes=15, seconds=1))
    assert (early.code, early.message) == ("AccessDenied", "Request is not yet valid")
    assert failure(request, now=T0 + dt.timedelta(seconds=86401)).message == "Request has expired"


def _without(request: HttpRequest, **headers) -> HttpRequest:
    merged = {**request.headers, **headers}
    return HttpRequest(request.method, request.path, headers={k: v for k, v in merged.items() if v is not None},
                       raw_query=request.raw_query, body=request.body)


def _authorization(request: HttpRequest, old: str, new: str) -> HttpRequest:
    return _without(request, authorization=request.headers["authorization"].replace(old, new))


MALFORMED = "The authorization header is malformed; "
BAD_PAYLOAD_HASH = ("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a "
                    "valid sha256 value.")
S3_HEADER_CASES = {
    "no Signature": (lambda r: _authorization(r, ",Signature=", ",Sig="), "AuthorizationHeaderMalformed", 400,
                     MALFORMED + "the authorization header requires three components: Credential, SignedHeaders, "
                                 "and Signature."),
    "four parts": (lambda r: _authorization(r, "/us-east-1/", "/"), "AuthorizationHeaderMalformed", 400,
                   MALFORMED + 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
                               'aws4_request".'),
    "scope date format": (lambda r: _authorization(r, "/20130524/", "/2013052/"), "AuthorizationHeaderMalformed",
                          400, MALFORMED + 'incorrect date format "2013052". This date in the credential must be '
                                           'in the format "yyyyMMdd".'),
    "service": (lambda r: _authorization(r, "/s3/", "/ec2/"), "AuthorizationHeaderMalformed", 400,
                MALFORMED + 'incorrect service "ec2". This endpoint belongs to "s3".'),
    "terminal": (lambda r: _authorization(r, "aws4_request", "aws4_reques"), "AuthorizationHeaderMalformed", 400,
                 MALFORMED + 'incorrect terminal "aws4_reques". This endpoint uses "aws4_request".'),
    "scope date": (lambda r: _authorization(r, "/20130524/", "/20130523/"), "AuthorizationHeaderMalformed", 400,
                   MALFORMED + 'Invalid credential date "20130523". This date is not the same as X-Amz-Date: '
                               '"20130524".'),
    "region": (lambda r: _authorization(r, "/us-east-1/", "/eu-west-1/"), "AuthorizationHeaderMalformed", 400,
               MALFORMED + "the region 'eu-west-1' is wrong; expecting 'us-east-1'"),
    "SigV2": (lambda r: _without(r, authorization=f"AWS {KEY}:frJIUN8DYpKDtOLCwo//yllqDzg="), "InvalidRequest",
              400, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."),
    "Bearer": (lambda r: _without(r, authorization="Bearer token"), "InvalidArgument", 400,
               "Unsupported Authorization Type"),
    "no x-amz-content-sha256": (lambda r: _without(r, **{"x-amz-content-sha256": None}), "InvalidRequest", 400,
                                "Missing required header for this request: x-amz-content-sha256"),
    "bad x-amz-content-sha256": (lambda r: _without(r, **{"x-amz-content-sha256": EMPTY[1:]}), "InvalidArgument",
                                 400, BAD_PAYLOAD_HASH),
    "no date": (lambda r: _without(r, **{"x-amz-date": None}), "AccessDenied", 403,
                "AWS authentication requires a valid Date or x-amz-date header"),
    "ISO extended date": (lambda r: _without(r, **{"x-amz-date": "2013-05-24T00:00:00Z"}), "AccessDenied", 403,
                          "AWS authentication requires a valid Date or x-amz-date header"),
    "unsigned x-amz header": (lambda r: _without(r, **{"x-amz-meta-color": "red"}), "AccessDenied", 403,
                              "There were headers present in the request which were not signed"),
    "host not signed": (lambda r: _authorization(r, "SignedHeaders=host;", "SignedHeaders="), "AccessDenied", 403,
                        "There were headers present in the request which were not signed"),
    "both mechanisms": (lambda r: HttpRequest("GET", r.path, headers=r.headers,
                                              raw_query="X-Amz-Algorithm=AWS4-HMAC-SHA256"),
                        "InvalidArgument", 400, "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                        "parameter, Signature query string parameter or the Authorization header should be specified"),
}


@pytest.mark.parametrize("name", S3_HEADER_CASES)
def test_s3_malformed_authorization_headers(name):
    edit, code, status, message = S3_HEADER_CASES[name]
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(edit(DOC_EXAMPLES["GET Object"]()), service="s3", region="us-east-1")
    assert (raised.value.code, raised.value.status, raised.value.message) == (code, status, message)
    if name == "region":
        assert raised.value.extra == {"Region": "us-east-1"}
    if name == "host not signed":
        assert raised.value.extra == {"HeadersNotSigned": "host"}


def test_s3_anonymous_requests_have_no_signature():
    assert sigv4.parse_authorization(HttpRequest("GET", "/b/k", headers={"authorization": ""}), service="s3") is None
    assert sigv4.parse_authorization(HttpRequest("GET", "/b/k", raw_query="x-id=GetObject"), service="s3") is None
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(HttpRequest("GET", "/b/k", raw_query="AWSAccessKeyId=a&Signature=b&Expires=1"),
                                  service="s3")
    assert raised.value.code == "InvalidRequest"


PRESIGN_REQUIRED = ("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
S3_QUERY_CASES = {
    "no X-Amz-Expires": ("X-Amz-Expires=86400&", "", PRESIGN_REQUIRED),
    "no X-Amz-Signature": ("&X-Amz-Signature=", "&X-Amz-Nothing=", PRESIGN_REQUIRED),
    "algorithm": ("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1",
                  'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"'),
    "date format": ("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24T00:00:00Z",
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""),
    "too long": ("X-Amz-Expires=86400", "X-Amz-Expires=604801",
                 "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
                 "less than 604800 seconds"),
    "negative": ("X-Amz-Expires=86400", "X-Amz-Expires=-1", "X-Amz-Expires must be non-negative"),
    "not a number": ("X-Amz-Expires=86400", "X-Amz-Expires=1h", "X-Amz-Expires should be a number"),
    "service": ("%2Fs3%2F", "%2Fec2%2F",
                'Error parsing the X-Amz-Credential parameter; incorrect service "ec2". This endpoint belongs to '
                '"s3".'),
    "credential": ("%2Fus-east-1%2F", "%2F",
                   'Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting '
                   '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'),
    "scope date": ("%2F20130524%2F", "%2F20130523%2F",
                   'Invalid credential date "20130523". This date is not the same as X-Amz-Date: "20130524".'),
}


@pytest.mark.parametrize("name", S3_QUERY_CASES)
def test_s3_malformed_presigned_parameters(name):
    old, new, message = S3_QUERY_CASES[name]
    request = DOC_EXAMPLES["presigned GET Object"]()
    request.raw_query = request.raw_query.replace(old, new)
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(request, service="s3")
    assert (raised.value.code, raised.value.status, raised.value.message) == (
        "AuthorizationQueryParametersError", 400, message)


def test_s3_presigned_parameter_names_in_any_case():
    request = DOC_EXAMPLES["presigned GET Object"]()
    request.raw_query = request.raw_query.replace("X-Amz-Signature", "x-amz-signature")
    check(request, now=T0)
    request.raw_query = request.raw_query.replace("X-Amz-Expires", "x-amz-expires")
    assert failure(request, now=T0).code == "SignatureDoesNotMatch"


def _sts_request(**header_edits) -> HttpRequest:
    request, _ = botocore_signed("POST", "http://127.0.0.1:9/", signer=SigV4Auth, service="sts",
                                 body=b"Action=GetCallerIdentity&Version=2011-06-15")
    return _without(request, **header_edits)


def test_other_services_malformed_headers():
    request = _sts_request()
    authorization = request.headers["authorization"]
    no_signature = authorization.split(", Signature=")[0]
    cases = [
        (_without(request, authorization=no_signature), "IncompleteSignature", 400,
         f"Authorization header requires 'Signature' parameter. Authorization={no_signature}"),
        (_without(request, **{"x-amz-date": None}), "IncompleteSignature", 400,
         "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
         f"Authorization={authorization}"),
        (_without(request, **{"x-amz-date": "201"}), "IncompleteSignature", 400,
         "Date must be in ISO-8601 'basic format'. Got '201'. See http://en.wikipedia.org/wiki/ISO_8601"),
        (_without(request, authorization=authorization.replace("/us-east-1/", "/")), "IncompleteSignature", 400,
         "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got "
         f"'{authorization.split('Credential=')[1].split(',')[0].replace('/us-east-1/', '/')}'"),
        (_without(request, authorization=authorization.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA25", 1)),
         "IncompleteSignature", 400, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). "),
        (_without(request, authorization=authorization.replace("/sts/aws4_request", "/iam/aws4_reques")),
         "SignatureDoesNotMatch", 403, "Credential should be scoped to correct service: 'sts'. Credential should be "
                                       "scoped with a valid terminator: 'aws4_request', not 'aws4_reques'."),
        (_without(request, authorization=authorization.replace("SignedHeaders=", "SignedHeaders=x;").replace(
            "host;", "")), "SignatureDoesNotMatch", 403,
         "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    ]
    for edited, code, status, message in cases:
        with pytest.raises(ServiceError) as raised:
            sigv4.parse_authorization(edited, service="sts", region="us-east-1")
        assert (raised.value.code, raised.value.status, raised.value.message) == (code, status, message)
    assert sigv4.parse_authorization(_without(request, authorization="Basic abc"), service="sts") is None
    assert sigv4.parse_authorization(_without(request, authorization=None), service="sts") is None


def test_other_services_scope_date_and_region():
    request = _sts_request()
    stamp = request.headers["x-amz-date"]
    edited = _without(request, authorization=request.headers["authorization"].replace(
        f"/{stamp[:8]}/us-east-1/", "/20000101/eu-west-1/"))
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(edited, service="sts", region="us-east-1")
    assert raised.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'."
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(edited, service="sts")
    assert raised.value.message == ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                    f"from HTTP: '20000101' != '{stamp[:8]}', from '{stamp}'.")


def test_other_services_presigned_missing_parameters():
    request = HttpRequest("GET", "/", headers={"host": "h"}, raw_query="X-Amz-Algorithm=AWS4-HMAC-SHA256&Action=x")
    with pytest.raises(ServiceError) as raised:
        sigv4.parse_authorization(request, service="iam")
    assert raised.value.code == "IncompleteSignature"
    assert raised.value.message == (
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include "
        "'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string "
        "parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.")


def test_the_date_header_alone_signs_the_request():
    request, _ = botocore_signed("GET", "http://127.0.0.1:9/bucket/key", headers={"Date": "now"})
    assert "x-amz-date" not in request.headers
    info = sigv4.parse_authorization(request, service="s3")
    assert info.timestamp == info.amz_date.strftime("%Y%m%dT%H%M%SZ")
    check(request)


def test_a_signed_header_the_request_lacks_breaks_the_signature():
    request, _ = botocore_signed("GET", "http://127.0.0.1:9/bucket/key", headers={"x-amz-meta-a": "1"})
    assert failure(_without(request, **{"x-amz-meta-a": None})).code == "SignatureDoesNotMatch"


def test_header_values_are_trimmed_and_collapsed_and_keep_their_utf8_bytes():
    request, canonical = botocore_signed("PUT", "http://127.0.0.1:9/bucket/key",
                                         headers={"x-amz-meta-s": "  a   b \t c  ", "x-amz-meta-u": "ü 中"})
    assert "x-amz-meta-s:a b c\n" in canonical
    assert request.headers["x-amz-meta-u"] == "ü 中".encode().decode("latin-1")
    check(request)


def test_the_signing_key_is_cached():
    request = DOC_EXAMPLES["GET Object"]()
    check(request, now=T0)
    hits = sigv4.signing_key.cache_info().hits
    check(request, now=T0)
    assert sigv4.signing_key.cache_info().hits == hits + 1


def test_bodies_of_other_services_may_be_streams():
    request, _ = botocore_signed("POST", "http://127.0.0.1:9/", signer=SigV4Auth, service="iam",
                                 body=b"Action=ListUsers&Version=2010-05-08")
    request.body = io.BytesIO(request.body)
    check(request, "iam")


def test_quote_matches_botocore_for_every_byte():
    every = bytes(range(256))
    assert canonical.canonical_query_string("a=" + quote(every)) == "a=" + quote(every, safe="-_.~")
