"""Where the processes of one cloud find each other, under its data dir."""

from __future__ import annotations

from pathlib import Path


def bus(data_dir: Path) -> Path:
    """The state bus's folder: one datagram socket per process (``controller/state/bus.py``)."""
    return data_dir / "run" / "bus"


def primary_socket(data_dir: Path) -> Path:
    """The primary's Unix socket, where workers relay what they do not serve."""
    return data_dir / "run" / "primary.sock"
