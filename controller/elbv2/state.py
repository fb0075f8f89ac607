"""Elastic Load Balancing v2's tables: load balancers and their nodes, target groups and targets,
listeners and rules, tags, and the agents' latest view of each target's health.

Actions, conditions and certificates are stored in the shape the API reads back (normalized by
``rules.py``), so Describe* answers them as written; the ``loadbalancers`` host section translates
them into the agent's contract (``desired.py``). A node's network side (ENI, addresses, groups) belongs
to EC2 and is reached only through ``controller.ec2.vpc.eni_records``. A deregistered target keeps its
row with ``draining_until`` set: it is draining until then and gone after (reads compare with now).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table, Text, UniqueConstraint

from controller.state import JsonText, UtcDateTime, metadata

load_balancers = Table(
    "elbv2_load_balancers", metadata,
    Column("arn", String(256), primary_key=True),
    #: creation order, for paging (Marker)
    Column("seq", Integer, nullable=False, unique=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    #: the 16 hex digits of the ARN, also in the DNS name
    Column("lb_id", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("vpc_id", String(40), nullable=False),
    Column("ip_address_type", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("security_groups", JsonText, nullable=False, default=list),
    #: every attribute as the string DescribeLoadBalancerAttributes reads back
    Column("attributes", JsonText, nullable=False, default=dict),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "region", "name"),
)

#: One ENI per subnet of a load balancer (AWS's "load balancer node").
nodes = Table(
    "elbv2_nodes", metadata,
    Column("network_interface_id", String(40), primary_key=True),
    Column("load_balancer_arn", String(256), nullable=False, index=True),
    Column("subnet_id", String(40), nullable=False),
    Column("availability_zone", String(64), nullable=False),
    Column("private_ip", String(64), nullable=False),
    Column("public_ip", String(64)),
    Column("mac_address", String(17), nullable=False),
    UniqueConstraint("load_balancer_arn", "availability_zone"),
)

target_groups = Table(
    "elbv2_target_groups", metadata,
    Column("arn", String(256), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("protocol", String(16)),
    Column("protocol_version", String(16)),
    Column("port", Integer),
    Column("vpc_id", String(40)),
    Column("target_type", String(16), nullable=False),
    Column("ip_address_type", String(16), nullable=False),
    #: HealthCheck* members as the API reads them back (HealthCheckEnabled, ..., Matcher)
    Column("health_check", JsonText, nullable=False),
    Column("attributes", JsonText, nullable=False, default=dict),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "region", "name"),
)

targets = Table(
    "elbv2_targets", metadata,
    Column("target_group_arn", String(256), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("availability_zone", String(64)),
    #: the address the load balancer connects to (an instance's primary private address, or the ip target)
    Column("ip", String(64), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    #: set by DeregisterTargets: draining until then, gone after
    Column("draining_until", UtcDateTime),
)

listeners = Table(
    "elbv2_listeners", metadata,
    Column("arn", String(320), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("load_balancer_arn", String(256), nullable=False, index=True),
    Column("account_id", String(12), nullable=False),
    Column("port", Integer, nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("ssl_policy", String(64)),
    Column("alpn_policy", JsonText),
    #: [{"CertificateArn": ...}] as given
    Column("certificates", JsonText, nullable=False, default=list),
    #: the served certificate and its key (encrypted with the cloud's secret box) for HTTPS/TLS
    Column("certificate_pem", Text),
    Column("private_key", Text),
    Column("default_actions", JsonText, nullable=False),
    Column("default_rule_arn", String(400), nullable=False),
    UniqueConstraint("load_balancer_arn", "port"),
)

rules = Table(
    "elbv2_rules", metadata,
    Column("arn", String(400), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("listener_arn", String(320), nullable=False, index=True),
    Column("account_id", String(12), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("conditions", JsonText, nullable=False),
    Column("actions", JsonText, nullable=False),
    UniqueConstraint("listener_arn", "priority"),
)

#: Tags of every taggable resource (load balancers, target groups, listeners, rules), by ARN.
tags = Table(
    "elbv2_tags", metadata,
    Column("arn", String(400), primary_key=True),
    Column("tags", JsonText, nullable=False, default=list),
)

#: The latest health each node reported for each target (contract section 2).
target_health = Table(
    "elbv2_target_health", metadata,
    Column("target_group_arn", String(256), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("interface_id", String(40), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(64)),
    Column("description", String(256)),
    Column("reported_at", Float, nullable=False),
)
