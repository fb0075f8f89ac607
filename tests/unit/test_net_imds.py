"""IMDS protocol (pure): v1 reads, v2 tokens bound to the ENI, required tokens, listings, hop limit."""

from __future__ import annotations

import json

from agent.contract.network import ImdsOptions
from agent.network.imds import Caller, InstanceMetadata, Tokens, handle

DATA = InstanceMetadata(
    meta_data={"instance-id": "i-0abc", "local-ipv4": "10.0.1.10", "placement": {"availability-zone": "az1"},
               "iam": {"security-credentials": {"role-a": json.dumps({"AccessKeyId": "ASIA1", "Code": "Success"})}},
               "public-keys": {"0": {"openssh-key": "ssh-ed25519 AAA"}}},
    user_data=b"#!/bin/sh\necho hi\n",
    dynamic={"instance-identity": {"document": json.dumps({"instanceId": "i-0abc", "region": "home-1"})}})
CALLER = Caller("vpc-1", "eni-1", "i-0abc", "10.0.1.10")
NOW = 1_000_000.0


def provider(caller: Caller) -> InstanceMetadata | None:
    return DATA if caller.instance_id == "i-0abc" else None


def get(path: str, caller: Caller | None = CALLER, tokens: Tokens | None = None, **headers: str) -> tuple[int, bytes]:
    response = handle("GET", path, headers, caller, provider, tokens or Tokens(b"k"), NOW)
    return response.status, response.body


def test_imdsv1_reads_leaves_and_listings() -> None:
    assert get("/latest/meta-data/instance-id") == (200, b"i-0abc")
    assert get("/latest/meta-data/placement/availability-zone") == (200, b"az1")
    status, listing = get("/latest/meta-data/")
    assert status == 200 and b"placement/" in listing.split(b"\n") and b"instance-id" in listing.split(b"\n")
    assert get("/latest/meta-data/iam/security-credentials/") == (200, b"role-a")
    status, creds = get("/latest/meta-data/iam/security-credentials/role-a")
    assert status == 200 and json.loads(creds)["AccessKeyId"] == "ASIA1"
    assert get("/latest/user-data") == (200, DATA.user_data)
    assert get("/latest/dynamic/instance-identity/document")[1].startswith(b"{")
    assert get("/latest/meta-data/nope")[0] == 404


def test_dated_versions_serve_the_same_content() -> None:
    status, versions = get("/")
    assert status == 200 and versions.split(b"\n")[-1] == b"latest" and b"2021-03-23" in versions.split(b"\n")
    assert get("/2021-03-23/meta-data/instance-id") == (200, b"i-0abc")
    assert get("/2009-04-04/meta-data/public-keys/0/openssh-key") == (200, b"ssh-ed25519 AAA")
    assert get("/2009-04-04/user-data") == (200, DATA.user_data)
    assert get("/1999-01-01/meta-data/instance-id")[0] == 404


def test_unknown_caller_is_refused() -> None:
    assert get("/latest/meta-data/instance-id", caller=None)[0] == 403
    stranger = Caller("vpc-1", "eni-9", "i-other", "10.0.1.99")
    assert get("/latest/meta-data/instance-id", caller=stranger)[0] == 404


def test_imdsv2_token_flow_and_binding() -> None:
    tokens = Tokens(b"secret")
    put = handle("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, CALLER, provider,
                 tokens, NOW)
    assert put.status == 200 and put.ip_ttl == 1
    token = put.body.decode()
    assert get("/latest/meta-data/instance-id", tokens=tokens, **{"x-aws-ec2-metadata-token": token})[0] == 200
    other = Caller("vpc-1", "eni-2", "i-0abc", "10.0.1.11")
    assert get("/latest/meta-data/instance-id", caller=other, tokens=tokens,
               **{"x-aws-ec2-metadata-token": token})[0] == 401  # a token is bound to the ENI that asked
    late = handle("GET", "/latest/meta-data/instance-id", {"x-aws-ec2-metadata-token": token}, CALLER, provider,
                  tokens, NOW + 61)
    assert late.status == 401
    assert get("/latest/meta-data/instance-id", tokens=tokens, **{"x-aws-ec2-metadata-token": "forged"})[0] == 401


def test_token_request_rules() -> None:
    tokens = Tokens(b"k")
    for headers in ({}, {"x-aws-ec2-metadata-token-ttl-seconds": "0"},
                    {"x-aws-ec2-metadata-token-ttl-seconds": "21601"}):
        assert handle("PUT", "/latest/api/token", headers, CALLER, provider, tokens, NOW).status == 400
    proxied = {"x-aws-ec2-metadata-token-ttl-seconds": "60", "x-forwarded-for": "1.2.3.4"}
    assert handle("PUT", "/latest/api/token", proxied, CALLER, provider, tokens, NOW).status == 403


def test_required_tokens_and_disabled_endpoint() -> None:
    strict = Caller("vpc-1", "eni-1", "i-0abc", "10.0.1.10", ImdsOptions(http_tokens="required", hop_limit=2))
    assert get("/latest/meta-data/instance-id", caller=strict)[0] == 401
    put = handle("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, strict, provider,
                 Tokens(b"k"), NOW)
    assert put.ip_ttl == 2
    off = Caller("vpc-1", "eni-1", "i-0abc", "10.0.1.10", ImdsOptions(enabled=False))
    assert get("/latest/meta-data/instance-id", caller=off)[0] == 403
