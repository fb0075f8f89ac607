"""Malformed requests no SDK would send, per wire protocol: what a careless or hostile client sends.

Bodies that do not parse (XML, JSON, forms), documents nested past any parser's stack,
entity expansion, invalid UTF-8, JSON of the wrong type for each member, garbage and
duplicated query parameters, broken percent-encoding, contradictory or absurd headers and
wrong content types. Each :class:`RawCase` is sent signed with a valid key unless it says
otherwise, so the request reaches the protocol layer and the handlers behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.model import OperationModel, ServiceModel, Shape


@dataclass(frozen=True)
class RawCase:
    """One HTTP request: ``target`` is the raw path and query; ``extra_headers`` are added after signing."""

    note: str
    method: str
    target: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default=())


NESTED_JSON = b"[" * 100_000 + b"]" * 100_000
NESTED_XML = b"<a>" * 50_000 + b"</a>" * 50_000
ENTITY_BOMB = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
               + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((98 + i,) + (97 + i,) * 10)
                          for i in range(8))
               + b"]><Tagging><TagSet><Tag><Key>k</Key><Value>&i;</Value></Tag></TagSet></Tagging>")
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                   b"<Tagging><TagSet><Tag><Key>k</Key><Value>&e;</Value></Tag></TagSet></Tagging>")

BAD_XML_BODIES: tuple[tuple[str, bytes], ...] = (
    ("empty", b""), ("lt", b"<"), ("text", b"not xml at all"), ("unclosed", b"<Tagging><TagSet>"),
    ("wrong root", b"<Nope><Tag/></Nope>"), ("invalid utf-8", b"<Tagging>\xff\xfe</Tagging>"),
    ("nested", NESTED_XML), ("entity bomb", ENTITY_BOMB), ("external entity", EXTERNAL_ENTITY),
    ("json", b'{"a": 1}'), ("nul", b"<Tagging>\x00</Tagging>"),
    ("text where list", b"<Tagging><TagSet>text</TagSet></Tagging>"),
    ("huge", b"<Tagging><TagSet>" + b"<Tag><Key>k</Key><Value>v</Value></Tag>" * 20_000 + b"</TagSet></Tagging>"),
)

BAD_JSON_BODIES: tuple[tuple[str, bytes], ...] = (
    ("open brace", b"{"), ("array", b"[]"), ("null", b"null"), ("number", b"1"), ("string", b'"s"'),
    ("nested array", NESTED_JSON), ("nested object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("invalid utf-8", b'{"Name": "\xff\xfe"}'), ("lone surrogate", b'{"Name": "\\ud800", "PolicyId": "\\udfff"}'),
    ("huge integer", b'{"MaxResults": 1' + b"0" * 5000 + b"}"), ("overflow float", b'{"MaxResults": 1e999}'),
    ("NaN", b'{"MaxResults": NaN}'), ("duplicate keys", b'{"MaxResults": 1, "MaxResults": "x"}'),
    ("bom", b"\xef\xbb\xbf{}"), ("trailing garbage", b"{} x"), ("nul", b'{"Name": "a\\u0000b"}'),
)


def _query_version(service_model: ServiceModel) -> str:
    return service_model.metadata["apiVersion"]


def query_cases(service_model: ServiceModel, operation: str) -> list[RawCase]:
    """Form bodies of the query and ec2 protocols, broken in the ways AWS's front ends see."""
    version = _query_version(service_model)
    form = (("content-type", "application/x-www-form-urlencoded; charset=utf-8"),)
    head = f"Action={operation}&Version={version}".encode()
    bodies = [
        ("no action", f"Version={version}".encode()), ("empty", b""), ("no version", f"Action={operation}".encode()),
        ("unknown action", f"Action=NoSuchAction&Version={version}".encode()),
        ("bad percent", head + b"&Marker=%zz%&MaxResults=%"), ("invalid utf-8", head + b"&Marker=\xff\xfe&Path=\xc3"),
        ("duplicate action", head + b"&Action=GetUser&Action=DescribeVpcs"),
        ("index zero", head + b"&Filter.0.Name=x&Filter.0.Value.0=y"),
        ("negative index", head + b"&Filter.-1.Name=x&Tags.member.-1.Key=k"),
        ("huge index", head + b"&Filter.99999999999999999999.Name=x&Tags.member.1e9.Key=k"),
        ("word index", head + b"&Filter.a.Name=x&InstanceId.b=i-1&Tags.member.x.Key=k"),
        ("empty segments", head + b"&Filter..Name=x&.=y&=z&.....=w"),
        ("scalar and tree", head + b"&Filter.1=x&Filter.1.Name=y&MaxResults=5&MaxResults.1=6"),
        ("deep", head + b"&" + b".".join([b"A"] * 5000) + b"=x"),
        ("many parameters", head + b"".join(b"&P%d=%d" % (i, i) for i in range(10_000))),
        ("numbers", head + b"&MaxResults=-1&MaxItems=99999999999999999999&DurationSeconds=1e3&Count=0x10"),
        ("booleans", head + b"&DryRun=maybe&OnlyAttached=2&Enabled="),
        ("timestamps", head + b"&StartTime=yesterday&EndTime=2024-13-45T99:99:99Z"),
        ("nul", head + b"&UserName=a%00b&Path=%00"),
        ("huge value", head + b"&UserName=" + b"u" * 200_000),
    ]
    cases = [RawCase(f"query {note}", "POST", "/", body, form) for note, body in bodies]
    cases += [
        RawCase("query as json", "POST", "/", head, (("content-type", "application/json"),)),
        RawCase("query as xml", "POST", "/", head, (("content-type", "text/xml"),)),
        RawCase("query multipart", "POST", "/", head, (("content-type", "multipart/form-data; boundary=x"),)),
        RawCase("query in querystring", "GET", f"/?Action={operation}&Version={version}&MaxItems=%zz&Filter.x=1"),
        RawCase("query garbage querystring", "GET", "/?%%%&&&==&Action&Version"),
        RawCase("query duplicate content-type", "POST", "/", head, form,
                (("content-type", "application/json"), ("x-amz-target", "Nope.Nope"))),
    ]
    return cases


def _wrong_json(shape: Shape) -> object:
    kind = shape.type_name
    return {"structure": "not an object", "list": {"not": "a list"}, "map": ["not", "a map"],
            "string": ["not a string"], "boolean": "not a boolean", "timestamp": {"not": "a time"},
            "blob": 12345}.get(kind, "not a number")


def json_member_bodies(operation: OperationModel) -> list[tuple[str, bytes]]:
    """For each input member, a body holding the wrong JSON type there (and a valid rest)."""
    import json

    shape = operation.input_shape
    if shape is None:
        return []
    bodies = []
    for name, member in shape.members.items():
        bodies.append((f"{name} wrong type", json.dumps({name: _wrong_json(member)}).encode()))
        if member.type_name == "structure" and not member.is_document_type:
            inner = {sub: _wrong_json(sub_shape) for sub, sub_shape in member.members.items()}
            bodies.append((f"{name} members wrong type", json.dumps({name: inner}).encode()))
        if member.type_name == "list":
            bodies.append((f"{name} null items", json.dumps({name: [None, None]}).encode()))
    return bodies


def json_cases(service_model: ServiceModel, operation: OperationModel) -> list[RawCase]:
    """Bodies and targets of the json protocol that no SDK would send."""
    prefix = service_model.metadata["targetPrefix"]
    version = service_model.metadata.get("jsonVersion", "1.0")
    amz_json = ("content-type", f"application/x-amz-json-{version}")
    target = ("x-amz-target", f"{prefix}.{operation.name}")
    cases = [RawCase(f"json {note}", "POST", "/", body, (amz_json, target)) for note, body in BAD_JSON_BODIES]
    cases += [RawCase(f"json {note}", "POST", "/", body, (amz_json, target))
              for note, body in json_member_bodies(operation)]
    cases += [
        RawCase("json no target", "POST", "/", b"{}", (amz_json,)),
        RawCase("json garbage target", "POST", "/", b"{}", (amz_json, ("x-amz-target", "..."))),
        RawCase("json prefix only", "POST", "/", b"{}", (amz_json, ("x-amz-target", prefix))),
        RawCase("json plain content type", "POST", "/", b"{}", (("content-type", "text/plain"), target)),
        RawCase("json form content type", "POST", "/", b"a=b", (("content-type", "application/x-www-form-urlencoded"),
                                                                 target)),
        RawCase("json duplicate target", "POST", "/", b"{}", (amz_json, target),
                (("x-amz-target", f"{prefix}.Nope"),)),
        RawCase("json get", "GET", "/", b"", (amz_json, target)),
    ]
    return cases


S3_SUBRESOURCES = ("tagging", "cors", "lifecycle", "versioning", "acl", "website", "encryption", "notification",
                   "ownershipControls", "publicAccessBlock", "logging", "requestPayment", "accelerate",
                   "object-lock", "replication", "analytics&id=a", "metrics&id=m", "inventory&id=i",
                   "intelligent-tiering&id=t")


def s3_cases(bucket: str, key: str) -> list[RawCase]:
    """S3 requests with broken XML, query strings, paths and headers, aimed at an existing bucket."""
    xml = (("content-type", "application/xml"),)
    cases = [RawCase(f"s3 put ?{sub} {note}", "PUT", f"/{bucket}?{sub}", body, xml)
             for sub in S3_SUBRESOURCES for note, body in BAD_XML_BODIES]
    cases += [RawCase(f"s3 object ?tagging {note}", "PUT", f"/{bucket}/{key}?tagging", body, xml)
              for note, body in BAD_XML_BODIES]
    cases += [RawCase(f"s3 delete objects {note}", "POST", f"/{bucket}?delete", body, xml)
              for note, body in BAD_XML_BODIES]
    cases += [
        RawCase("s3 delete 1001 keys", "POST", f"/{bucket}?delete",
                b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>", xml),
        RawCase("s3 policy not json", "PUT", f"/{bucket}?policy", b"{not json", ()),
        RawCase("s3 policy nested", "PUT", f"/{bucket}?policy", NESTED_JSON, ()),
        RawCase("s3 policy wrong types", "PUT", f"/{bucket}?policy",
                b'{"Version": 5, "Statement": "x", "Id": []}', ()),
        RawCase("s3 policy statement types", "PUT", f"/{bucket}?policy",
                b'{"Version":"2012-10-17","Statement":[{"Effect":1,"Principal":[],"Action":{},"Resource":7,'
                b'"Condition":"x"}]}', ()),
        RawCase("s3 complete upload garbage", "POST", f"/{bucket}/{key}?uploadId=nope", b"<Complete", xml),
        RawCase("s3 complete upload no parts", "POST", f"/{bucket}/{key}?uploadId=nope",
                b"<CompleteMultipartUpload></CompleteMultipartUpload>", xml),
    ]
    paths = ["/%zz", f"/{bucket}/%ff%fe", f"/{bucket}/%00", f"/{bucket}/" + "a" * 2000, f"/{bucket}/../x",
             "//", f"/{bucket}//x", "/" + "b" * 300, "/-bucket-/x", "/A_B/x", f"/{bucket}/%2F%2F"]
    cases += [RawCase(f"s3 get {path[:40]}", method, path) for path in paths for method in ("GET", "HEAD", "DELETE")]
    queries = ["?acl&versioning", "?%%%", "?partNumber=abc&uploadId=x", "?versionId=", "?list-type=3",
               "?max-keys=-1", "?max-keys=99999999999999999999", "?uploads&uploadId=", "?tagging=1",
               "?prefix=%ff", "?delimiter=%00", "?continuation-token=garbage&list-type=2", "?marker=%ff",
               "?encoding-type=bogus", "?versions&key-marker=k&version-id-marker=nope", "?uploads&max-uploads=x",
               "?max-parts=-5&uploadId=x", "?part-number-marker=x&uploadId=x", "?fetch-owner=maybe&list-type=2",
               "?attributes", "?select&select-type=2", "?restore", "?torrent", "?x-id=Nope",
               "?response-content-type=%0d%0aX-Injected:%201", "?response-expires=never"]
    for query in queries:
        cases.append(RawCase(f"s3 bucket {query[:40]}", "GET", f"/{bucket}{query}"))
        cases.append(RawCase(f"s3 object {query[:40]}", "GET", f"/{bucket}/{key}{query}"))
    headers = [("range", "bytes=abc"), ("range", "bytes=5-1"), ("range", "bytes=-0"), ("range", "bytes=0-0,1-1"),
               ("range", "items=0-1"), ("if-match", "\"\""), ("if-none-match", "*,*"),
               ("if-modified-since", "garbage"), ("if-unmodified-since", "Mon, 99 Foo 2024"),
               ("x-amz-copy-source", "%zz"), ("x-amz-copy-source", f"{bucket}/{key}?versionId=nope"),
               ("x-amz-copy-source-range", "bytes=x"), ("x-amz-acl", "bogus"), ("x-amz-grant-read", "garbage"),
               ("x-amz-meta-big", "m" * 9000), ("content-md5", "not-md5"), ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
               ("x-amz-checksum-crc32", "!!"), ("x-amz-checksum-algorithm", "MD4"), ("x-amz-tagging", "a=%zz&&=&b"),
               ("x-amz-storage-class", "BOGUS"), ("x-amz-server-side-encryption", "rot13"),
               ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
               ("x-amz-server-side-encryption-customer-key", "short"),
               ("x-amz-object-lock-retain-until-date", "tomorrow"), ("x-amz-object-lock-mode", "FOREVER"),
               ("expires", "never"), ("x-amz-website-redirect-location", "javascript:x"),
               ("x-amz-expected-bucket-owner", "not-an-account"), ("x-amz-request-payer", "nobody"),
               ("x-amz-bypass-governance-retention", "maybe"), ("content-type", "\x7f"),
               ("x-amz-write-offset-bytes", "-1"), ("x-amz-mp-parts-count", "x"), ("x-amz-object-attributes", "Nope"),
               ("x-amz-metadata-directive", "SOMETIMES"), ("x-amz-tagging-directive", "x"),
               ("x-amz-copy-source-if-match", "x"), ("x-amz-copy-source-if-modified-since", "x")]
    for name, value in headers:
        for method, path in (("GET", f"/{bucket}/{key}"), ("PUT", f"/{bucket}/{key}-fuzz"), ("HEAD", f"/{bucket}/{key}")):
            body = b"data" if method == "PUT" else b""
            cases.append(RawCase(f"s3 {method} {name}", method, path, body, ((name, value),)))
    cases += [
        RawCase("s3 duplicate acl", "PUT", f"/{bucket}/{key}-dup", b"x", (("x-amz-acl", "private"),),
                (("x-amz-acl", "public-read-write"),)),
        RawCase("s3 duplicate range", "GET", f"/{bucket}/{key}", b"", (("range", "bytes=0-1"),),
                (("range", "bytes=2-3"),)),
        RawCase("s3 post object form", "POST", f"/{bucket}", b"--x\r\n\r\n--x--",
                (("content-type", "multipart/form-data; boundary=x"),)),
    ]
    return cases


def auth_cases(signed_target: str) -> list[RawCase]:
    """Requests whose authentication itself is garbage (sent unsigned)."""
    return [
        RawCase("auth garbage", "POST", signed_target, b"", (("authorization", "AWS4-HMAC-SHA256 garbage"),)),
        RawCase("auth empty parts", "POST", signed_target, b"",
                (("authorization", "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature="),
                 ("x-amz-date", "20240101T000000Z"))),
        RawCase("auth bad date", "POST", signed_target, b"",
                (("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/2/3/4/5, SignedHeaders=host, Signature=0"),
                 ("x-amz-date", "yesterday"))),
        RawCase("auth v2", "POST", signed_target, b"", (("authorization", "AWS AKIA:sig"),)),
        RawCase("auth presign garbage", "GET", signed_target + "?X-Amz-Algorithm=x&X-Amz-Credential=%zz"
                "&X-Amz-Date=x&X-Amz-Expires=-1&X-Amz-SignedHeaders=&X-Amz-Signature=z"),
        RawCase("auth presign huge expiry", "GET", signed_target + "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z"
                "&X-Amz-Expires=99999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=0"),
    ]
