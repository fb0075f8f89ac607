"""How instances reach the Cloudlet API: the address the agents relay it on and the names that lead there.

SDKs in an instance know nothing but the region: boto3 with ``region_name="home-1"`` calls
``https://sts.home-1.amazonaws.com``, ``https://iam.amazonaws.com``, ``https://<bucket>.s3.home-1.amazonaws.com``.
The network document's ``api`` (``agent.contract.network.ApiAccess``) lists those names so the VPC resolver
answers them with the relay's address, where the host's agent terminates TLS with the cloud's certificate
(``controller/hosts/api_tls.py``) and carries the request to the controller. Pure: config and service
names in, the document's part out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import cache

from agent.contract.network import ApiAccess
from controller.cloud import load_services
from controller.config import Config
from controller.protocol import load_service_model

#: The endpoints AWS's SDKs use for services that have one endpoint for every region (by botocore model
#: name, the host name without the service domain): what ``boto3.client(name, region_name="home-1")``
#: calls besides the regional names.
GLOBAL_ENDPOINTS = {"iam": "iam", "sts": "sts", "s3": "s3", "organizations": "organizations.us-east-1"}


@cache
def served_models() -> tuple[str, ...]:
    """The botocore model names of the services the controller serves, as ``Cloud.services`` names them
    (a constant of the code: the service packages are imported once per process anyway)."""
    return tuple(load_services())


@cache
def endpoint_prefix(service: str) -> str:
    """A service's host name label (``efs`` -> ``elasticfilesystem``), from its botocore model."""
    return load_service_model(service).metadata.get("endpointPrefix", service)


def api_address(config: Config) -> str:
    """Where the agents relay the API: ``config.api_address``, else the lab Internet's base+2."""
    if config.api_address:
        return config.api_address
    return str(ipaddress.ip_network(config.lab_internet_cidr, strict=False).network_address + 2)


def api_names(region: str, service_domain: str, services: Iterable[str]) -> list[str]:
    """Every name that resolves to the relay inside VPCs (each with every name below it), sorted."""
    services = list(services)
    names = {f"{endpoint_prefix(service)}.{region}.{service_domain}" for service in services}
    names |= {f"{GLOBAL_ENDPOINTS[service]}.{service_domain}" for service in services if service in GLOBAL_ENDPOINTS}
    if "apigateway" in services:  # invoke URLs: {api-id}.execute-api.{region}.{domain}, names below this one
        names.add(f"execute-api.{region}.{service_domain}")
    if "cognito-idp" in services:  # user pools' hosted UI: {domain-prefix}.auth.{region}.{domain}
        names.add(f"auth.{region}.{service_domain}")
    if "ssm" in services:  # Session Manager's data channels (websockets, not an API of their own)
        names.add(f"ssmmessages.{region}.{service_domain}")
    return sorted(names)


def api_access(config: Config, services: Iterable[str] | None = None) -> ApiAccess:
    """The network document's ``api`` for ``services`` (model names; default: every service served)."""
    listen = config.session_manager_listen
    return ApiAccess(address=api_address(config),
                     names=api_names(config.region, config.service_domain,
                                     served_models() if services is None else services),
                     data_channel_port=int(listen.rsplit(":", 1)[1]) if ":" in listen else 0)
