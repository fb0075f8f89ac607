"""The controller's side of the API from inside instances: the relay's certificate (verified by ``ssl`` for
every name an SDK uses), the names and address in the network document, which relay headers the gateway
believes, the ``aws:SourceVpc``/``aws:SourceVpce`` keys, and S3's AWS-named hosts."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from flask import Flask

from agent.contract.network import HostNetwork
from agent.network import naming
from agent.network.api_relay import RelayListener, internet_listeners
from agent.network.plan import plan_host
from controller.config import Config
from controller.gateway import Caller, relayed_caller
from controller.hosts import agent_api, api_tls
from controller.hosts.api_access import api_access, api_names, endpoint_prefix, served_models
from controller.iam import policy
from controller.protocol import HttpRequest
from controller.s3.addressing import path_style
from tests.unit.harness import Clouds

REGION, DOMAIN = "home-1", "amazonaws.com"


def handshake(material: api_tls.TlsMaterial, tmp_path: Path, name: str) -> None:
    """A TLS handshake in memory between a server with ``material`` and a client that trusts only the CA
    and checks ``name``; raises ``ssl.SSLCertVerificationError`` when the certificate does not cover it."""
    (tmp_path / "chain.pem").write_text(material.certificate_chain)
    (tmp_path / "key.pem").write_text(material.private_key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cadata=material.ca)
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for side, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            finally:
                peer_in.write(out.read())
        if done == 2:
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("name", ["sts.home-1.amazonaws.com", "ec2.home-1.amazonaws.com",
                                  "photos.s3.home-1.amazonaws.com", "s3.home-1.amazonaws.com",
                                  "iam.amazonaws.com", "sts.amazonaws.com", "s3.amazonaws.com",
                                  "photos.s3.amazonaws.com", "organizations.us-east-1.amazonaws.com"])
def test_the_certificate_covers_every_name_sdks_call(tmp_path: Path, name: str) -> None:
    handshake(api_tls.material(tmp_path, REGION, DOMAIN), tmp_path, name)


@pytest.mark.parametrize("name", ["example.com", "a.b.s3.home-1.amazonaws.com", "sts.home-2.amazonaws.com"])
def test_the_certificate_covers_nothing_else(tmp_path: Path, name: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(api_tls.material(tmp_path, REGION, DOMAIN), tmp_path, name)


def test_the_ca_is_made_once_its_key_private_and_the_server_cert_follows_the_names(tmp_path: Path) -> None:
    first = api_tls.material(tmp_path, REGION, DOMAIN)
    assert api_tls.material(tmp_path, REGION, DOMAIN) == first
    for key in (api_tls.CA_KEY, api_tls.SERVER_KEY):
        assert (tmp_path / key).stat().st_mode & 0o777 == 0o600
    moved = api_tls.material(tmp_path, REGION, "cloud.example")
    assert moved.ca == first.ca and moved.certificate_chain != first.certificate_chain
    handshake(moved, tmp_path, "sts.home-1.cloud.example")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=api_tls.SERVER_DAYS - 10)
    renewed = api_tls.material(tmp_path, REGION, "cloud.example", now=later)
    assert renewed.ca == first.ca and renewed.certificate_chain != moved.certificate_chain


def test_agents_fetch_the_material_with_their_token_only(clouds: Clouds) -> None:
    cloud = clouds.vpc().cloud
    app = Flask("test")
    app.register_blueprint(agent_api.blueprint, url_prefix="/v1")
    app.config["CLOUD"] = cloud
    assert app.test_client().get("/v1/api-tls").status_code == 401
    assert app.test_client().get("/v1/api-tls", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = app.test_client().get("/v1/api-tls", headers={"Authorization": f"Bearer {cloud.agent_token}"})
    assert answer.status_code == 200
    assert answer.json["ca"] == api_tls.ca_bundle_pem(cloud)
    assert "PRIVATE KEY" in answer.json["private_key"] and answer.json["certificate_chain"].endswith(answer.json["ca"])


def test_names_are_every_served_service_by_endpoint_prefix_and_the_global_ones() -> None:
    access = api_access(Config())
    assert access.address == "203.0.113.2"
    names = set(access.names)
    assert {"sts.home-1.amazonaws.com", "s3.home-1.amazonaws.com", "ec2.home-1.amazonaws.com",
            "elasticfilesystem.home-1.amazonaws.com", "lambda.home-1.amazonaws.com", "iam.amazonaws.com",
            "sts.amazonaws.com", "s3.amazonaws.com", "organizations.us-east-1.amazonaws.com"} <= names
    assert "execute-api.home-1.amazonaws.com" in names  # API Gateway's invoke URLs are below it
    assert "auth.home-1.amazonaws.com" in names  # and user pools' hosted UI domains below this one
    assert "ssmmessages.home-1.amazonaws.com" in names  # Session Manager's data channels
    assert len(names) == len({endpoint_prefix(service) for service in served_models()}) + 4 + 3
    assert access.data_channel_port == 0  # no listener configured
    assert api_access(Config(session_manager_listen="127.0.0.1:8775")).data_channel_port == 8775
    assert api_names("r-9", "cloud.example", ["sqs"]) == ["sqs.r-9.cloud.example"]
    assert api_access(Config(api_address="198.18.0.9", lab_internet_cidr="203.0.113.0/24")).address == "198.18.0.9"
    assert api_access(Config(lab_internet_cidr="100.64.8.0/22")).address == "100.64.8.2"


AGENT_TOKEN = "agents-token"
RELAYED = {"x-cloudlet-relay-token": AGENT_TOKEN, "x-cloudlet-source-ip": "198.51.100.7",
           "x-cloudlet-source-vpc": "vpc-1", "x-cloudlet-via": "internet", "x-forwarded-proto": "https"}
DIRECT = Caller(source_ip="10.9.9.9", user_agent="boto3")


def test_relay_headers_count_only_with_the_agents_token() -> None:
    relayed = relayed_caller(RELAYED, DIRECT, AGENT_TOKEN.__eq__)
    assert relayed == Caller(source_ip="198.51.100.7", user_agent="boto3", secure=True, source_vpc="vpc-1")
    through_endpoint = relayed_caller({**RELAYED, "x-cloudlet-via": "vpce-0abc"}, DIRECT, AGENT_TOKEN.__eq__)
    assert through_endpoint.source_vpce == "vpce-0abc"
    for forged in ({**RELAYED, "x-cloudlet-relay-token": "guess"}, {k: v for k, v in RELAYED.items()
                                                                    if k != "x-cloudlet-relay-token"},
                   {**RELAYED, "x-cloudlet-source-ip": "not-an-ip"}):
        assert relayed_caller(forged, DIRECT, AGENT_TOKEN.__eq__) is DIRECT
    assert relayed_caller({**RELAYED, "x-cloudlet-relay-token": ""}, DIRECT, AGENT_TOKEN.__eq__) is DIRECT


def test_source_vpc_keys_and_the_endpoint_hiding_the_source_ip() -> None:
    base = {"account_id": "111111111111", "arn": "arn:aws:iam::111111111111:root", "kind": "root"}
    internet = policy.global_context(policy.CallerFacts(**base, source_ip="198.51.100.7", source_vpc="vpc-1"))
    assert internet["aws:SourceIp"] == "198.51.100.7" and internet["aws:SourceVpc"] == "vpc-1"
    assert "aws:SourceVpce" not in internet
    endpoint = policy.global_context(policy.CallerFacts(**base, source_ip="10.0.1.5", source_vpc="vpc-1",
                                                        source_vpce="vpce-1"))
    assert "aws:SourceIp" not in endpoint
    assert endpoint["aws:VpcSourceIp"] == "10.0.1.5" and endpoint["aws:SourceVpce"] == "vpce-1"
    outside = policy.global_context(policy.CallerFacts(**base, source_ip="127.0.0.1"))
    assert "aws:SourceVpc" not in outside


@pytest.mark.parametrize(("host", "path", "expected"), [
    ("photos.s3.home-1.amazonaws.com", "/cat.jpg", "/photos/cat.jpg"),
    ("photos.s3.amazonaws.com", "/cat.jpg", "/photos/cat.jpg"),
    ("photos.s3.localhost:8773", "/cat.jpg", "/photos/cat.jpg"),
    ("s3.home-1.amazonaws.com", "/photos/cat.jpg", "/photos/cat.jpg"),
    ("s3.amazonaws.com", "/photos/cat.jpg", "/photos/cat.jpg"),
    ("photos.s3.home-1.amazonaws.com", "/", "/photos"),
    ("sts.home-1.amazonaws.com", "/", "/"),
])
def test_s3_accepts_aws_names_virtual_hosted_and_path_style(clouds: Clouds, host: str, path: str,
                                                            expected: str) -> None:
    cloud = clouds.vpc().cloud
    request = HttpRequest(method="GET", path=path, query=[], raw_query="", headers={"host": host})
    assert path_style(cloud, request).path == expected


def test_the_internet_namespace_holds_the_api_address_and_the_relay_listens_there() -> None:
    doc = HostNetwork(host_id="h-1", api=api_access(Config()), name_prefix="cl-x-")
    internet = plan_host(doc, "/run/x").namespace(naming.internet_netns("cl-x-"))
    loopback = next(link for link in internet.links if link.name == "lo")
    assert loopback.addresses == ("203.0.113.2/32",)
    assert internet_listeners(doc) == [RelayListener(naming.internet_netns("cl-x-"), "203.0.113.2", "internet")]
    assert internet_listeners(HostNetwork(host_id="h-1")) == []
    assert next(link for link in plan_host(HostNetwork(host_id="h-1"), "/run/x").namespace(
        naming.internet_netns("cl-")).links if link.name == "lo").addresses == ()
