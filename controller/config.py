"""Controller configuration: defaults, overridden by DATA_DIR/cloudlet.json and the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "cloudlet"


@dataclass
class Config:
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = 8773
    region: str = "home-1"
    availability_zones: list[str] = field(default_factory=lambda: ["home-1a", "home-1b"])
    #: The AZ of the local agent started by ``cloudlet up``.
    local_zone: str = "home-1a"
    partition: str = "aws"
    #: Virtual-hosted S3 requests arrive as ``<bucket>.<s3_domain>``.
    s3_domain: str = "s3.localhost"
    #: Worker threads of the HTTP server (of each process).
    threads: int = 32
    #: Processes serving the API: ``cloudlet up`` itself and ``workers - 1`` API workers
    #: (controller/workers/); 0 = one per core.
    workers: int = 0
    #: HOST:PORT of the EC2 Instance Connect Endpoint tunnel listener (websockets; cheroot cannot upgrade):
    #: "" = the API host with port + 1 (any free port when the API port is 0), "0" = any free port.
    instance_connect_listen: str = ""
    #: HOST:PORT of Session Manager's data-channel listener (websockets), where StartSession's StreamUrl points:
    #: "" = the API host with port + 2 (any free port when the API port is 0), "0" = any free port.
    session_manager_listen: str = ""
    #: ``HOST:PORT`` of an HTTPS listener for the API beside the plain one (port 0: any free port), with a
    #: certificate from the cloud's CA (``controller/hosts/api_tls.py``); "" serves plain HTTP only. The AWS
    #: profile ``cloudlet up`` writes then points at it, with the CA as its ``ca_bundle``.
    https_listen: str = ""
    #: The state store: "" is the embedded SQLite file DATA_DIR/state.db; a SQLAlchemy URL
    #: (``postgresql+psycopg://user:password@host/db``) a PostgreSQL database, which several controllers (each
    #: with its own data dir) may share behind one load balancer. ``cloudlet up --database-url`` records it.
    database_url: str = ""
    # --- VPC networking (controller/ec2) ---
    #: Public IPv4 pool of Elastic IPs, NAT gateways and auto-assigned public addresses; its first host
    #: address is left to the uplink's router. Keep it off every real network the machine is on.
    public_address_pool: str = "198.51.100.0/24"
    #: Amazon-provided IPv6: each VPC that asks gets a /56 from this pool.
    vpc_ipv6_pool: str = "2001:db8:1000::/40"
    #: The lab uplink's stand-in for the rest of the Internet (where test hosts plug in).
    lab_internet_cidr: str = "203.0.113.0/24"
    lab_internet_ipv6_cidr: str = "2001:db8:ffff::/64"
    #: Where VPC traffic to the Internet goes (docs: README "Choosing an uplink"): "lab" (a sealed namespace,
    #: nothing leaves the machine), "nat" (out of the host's default route, masqueraded; EIPs answered on the
    #: LAN by proxy ARP) or "bridge" (the Internet side plugged into the host's Linux bridge ``uplink_bridge``).
    #: The local agent applies it; ``cloudlet up --uplink`` records it here.
    uplink: str = "lab"
    #: nat/bridge: the LAN addresses public IPv4 addresses come from (``A-B`` ranges or CIDRs, comma-separated;
    #: the first one is the uplink's own). Replaces public_address_pool in those modes.
    eip_pool: str = ""
    #: nat: the host's LAN interface (empty: the one holding the default route).
    uplink_interface: str = ""
    #: bridge: the host's existing Linux bridge (e.g. br0), and the LAN's router (empty: the host's default
    #: gateway).
    uplink_bridge: str = ""
    uplink_gateway: str = ""
    #: The DNS domain of service endpoints as instances resolve them (``sts.home-1.<domain>``): AWS's own by
    #: default, so SDKs in instances need nothing but the region.
    service_domain: str = "amazonaws.com"
    #: The address instances reach the API at (on the lab Internet segment; empty: its base + 2).
    api_address: str = ""
    #: EC2 quotas, per account in the region unless named otherwise (AWS's default values).
    vpcs_per_account: int = 5
    subnets_per_vpc: int = 200
    internet_gateways_per_account: int = 5
    elastic_ips_per_account: int = 5
    nat_gateways_per_zone: int = 5
    security_groups_per_vpc: int = 2500
    rules_per_security_group: int = 60
    security_groups_per_interface: int = 5
    #: Seconds a new NAT gateway stays ``pending`` (and a deleted one ``deleting``) before it settles.
    nat_gateway_transition_seconds: float = 1.0
    # --- Hosts (controller/hosts) ---
    #: A host whose agent has not been heard from for this long is down: nothing new is placed there and its
    #: Batch attempts fail over. The local agent beats three times within it; tests that must outwait it
    #: shorten it (joined hosts beat every 10 s: keep it at 30 s or more with them).
    host_heartbeat_timeout_seconds: float = 30.0
    # --- EC2 instances (controller/ec2: instance_types, scheduler, images, metadata) ---
    #: Homelab scale: a guest gets its type's memory times this factor (t3.micro's 1 GiB -> 256 MiB), at least
    #: instance_min_memory_mib, and at most instance_max_vcpus vCPUs (0: as many as the type has).
    instance_memory_scale: float = 0.25
    instance_min_memory_mib: int = 128
    instance_max_vcpus: int = 4
    #: Seconds a Batch EC2 environment's instance stays without jobs before its scaler may terminate it
    #: (controller/batch/scaler.py; tests make it short).
    batch_scale_down_delay_seconds: float = 300.0
    #: Over-commit: a host takes guests up to vcpus x cpu_overcommit_ratio vCPUs and (memory -
    #: host_reserved_memory_mib) x ram_overcommit_ratio MiB, counting instance_memory_overhead_mib per guest
    #: (what QEMU itself needs besides the guest's RAM).
    cpu_overcommit_ratio: float = 4.0
    ram_overcommit_ratio: float = 1.0
    host_reserved_memory_mib: int = 1024
    instance_memory_overhead_mib: int = 48
    #: Where built AMIs are found at start (``<dir>/<name>/manifest.json``; empty: the repo's images/out);
    #: each one found is registered once as a public AMI of the management account.
    builtin_images_dir: str = ""
    #: Temporary credentials of instance profiles, served by the metadata service: their lifetime, and how long
    #: before expiry a fresh set replaces them.
    instance_credentials_seconds: int = 21600
    instance_credentials_refresh_seconds: int = 3600
    #: How long a terminated instance stays listed by DescribeInstances (AWS: about an hour).
    terminated_instance_listed_seconds: int = 3600
    #: The notice a spot instance gets before an on-demand launch takes its capacity (AWS: two minutes).
    spot_interruption_notice_seconds: int = 120
    #: The period of the alarms target tracking policies make (AWS: 60 s; shorter settings scale sooner).
    autoscaling_alarm_period_seconds: int = 60
    # --- S3 (see controller/s3/README.md) ---
    #: Where object data lives: "local" (files under s3_data_dir) or "cluster" (an S3-compatible cluster).
    s3_backend: str = "local"
    #: Directory of the local backend; empty means DATA_DIR/s3.
    s3_data_dir: str = ""
    #: The cluster backend: endpoint (host:port), credentials, bucket, TLS, region and key prefix.
    s3_cluster_endpoint: str = ""
    s3_cluster_access_key: str = ""
    s3_cluster_secret_key: str = ""
    s3_cluster_bucket: str = "cloudlet"
    s3_cluster_secure: bool = True
    s3_cluster_region: str = "us-east-1"
    s3_cluster_prefix: str = "cloudlet-blobs/"
    #: Seconds between two lifecycle sweeps, and the length of a lifecycle "day" (tests shorten both).
    s3_lifecycle_interval: float = 3600.0
    s3_lifecycle_day_seconds: float = 86400.0
    # --- KMS (controller/kms) ---
    #: The master key that wraps every KMS key's material: a 0600 file outside the state database, created on
    #: first start; empty means DATA_DIR/kms-master.key.
    kms_master_key_file: str = ""
    # --- SNS (controller/sns) ---
    #: HTTPS subscription endpoints must present a certificate that verifies against the system's trusted CAs
    #: or, when set, this PEM bundle's (a home lab's own CA, or a test server's certificate).
    sns_https_ca_bundle: str = ""
    # --- Lambda asynchronous invocation (controller/awslambda/events) ---
    #: Seconds before each retry of a failed asynchronous invocation (AWS: about one minute, then two); tests
    #: shorten them. An event's MaximumRetryAttempts (0-2) says how many of them are used.
    lambda_async_retry_delays: list[float] = field(default_factory=lambda: [60.0, 120.0])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def load(cls, data_dir: Path, **overrides: Any) -> Config:
        """Defaults, then ``cloudlet.json`` in the data dir, then explicit overrides."""
        values: dict[str, Any] = {}
        config_file = data_dir / "cloudlet.json"
        if config_file.exists():
            values.update(json.loads(config_file.read_text()))
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"{config_file}: unknown settings {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = data_dir
        config = cls(**values)
        if config.local_zone not in config.availability_zones:
            raise ValueError(f"local_zone {config.local_zone!r} is not one of {config.availability_zones}")
        if config.uplink not in ("lab", "nat", "bridge"):
            raise ValueError(f"uplink {config.uplink!r} is not one of lab, nat, bridge")
        if config.uplink != "lab" and not config.eip_pool:
            raise ValueError(f"uplink {config.uplink!r} needs an EIP pool of LAN addresses (--eip-pool A-B)")
        if config.host_heartbeat_timeout_seconds <= 0:
            raise ValueError("host_heartbeat_timeout_seconds must be positive, not "
                             f"{config.host_heartbeat_timeout_seconds}")
        if config.database_url and not config.database_url.startswith("postgresql"):
            raise ValueError(f"database_url {config.database_url!r} is not a PostgreSQL URL (postgresql+psycopg://...)")
        if config.uplink == "bridge" and not config.uplink_bridge:
            raise ValueError("uplink 'bridge' needs the host's bridge (--uplink-bridge br0)")
        return config

    @property
    def state_location(self) -> Path | str:
        """What :class:`controller.state.Database` opens: the PostgreSQL URL, or the SQLite file."""
        return self.database_url or self.data_dir / "state.db"

    def has_state(self) -> bool:
        """Whether a cloud was started here (a PostgreSQL store is always there to try)."""
        return bool(self.database_url) or (self.data_dir / "state.db").exists()

    @property
    def public_pool(self) -> str:
        """Where public IPv4 addresses come from: the user's LAN pool off the lab, the lab pool on it."""
        return self.eip_pool if self.uplink != "lab" else self.public_address_pool
