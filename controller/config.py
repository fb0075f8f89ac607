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
    #: Worker threads of the HTTP server.
    threads: int = 32

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
        return config
