"""Every AWS service botocore has a model for, told apart by what a request carries.

Cloudlet serves a few services, but a client may call any of them, and such a call must
still be authenticated, audited and answered in its own service's protocol. Telling which
service it is needs only each model's metadata (signing name, target prefix, protocol, API
version), which opens every model file: reading that head of the ~450 compressed models
takes a fraction of a second, once per process, where loading them whole takes seconds.
Until a caller has authenticated, a service is known by a :func:`skeleton_model` made from
that metadata alone, so no unauthenticated request can make the process load whole models.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from botocore.model import ServiceModel

from controller.protocol.models import LOADER, load_service_model

_HEAD_BYTES = 8192
_METADATA_RE = re.compile(r'"metadata"\s*:\s*')


class CatalogEntry(NamedTuple):
    """What a request can say about the service it is for."""

    name: str            # botocore model name
    signing_name: str    # the SigV4 credential scope's service
    target_prefix: str   # json protocol: ``X-Amz-Target`` prefix ("" otherwise)
    protocol: str
    api_version: str
    metadata: dict[str, Any]


@cache
def catalog() -> tuple[CatalogEntry, ...]:
    """Every service model botocore ships (newest API version), from the models' metadata."""
    entries = []
    for name in LOADER.list_available_services("service-2"):
        metadata = _read_metadata(name)
        entries.append(CatalogEntry(
            name, metadata.get("signingName") or metadata.get("endpointPrefix") or name,
            metadata.get("targetPrefix", ""), metadata.get("protocol", ""), metadata.get("apiVersion", ""),
            metadata))
    return tuple(entries)


def _read_metadata(name: str) -> dict[str, Any]:
    version = LOADER.list_api_versions(name, "service-2")[-1]
    for base in LOADER.search_paths:
        for file_name, opener in (("service-2.json", open), ("service-2.json.gz", gzip.open)):
            path = Path(base) / name / version / file_name
            if path.is_file():
                with opener(path, "rb") as stream:
                    head = stream.read(_HEAD_BYTES).decode("utf-8", "replace")
                found = _METADATA_RE.search(head)
                if found is not None:
                    try:
                        metadata, _ = json.JSONDecoder().raw_decode(head, found.end())
                        return metadata
                    except ValueError:
                        pass
                return load_service_model(name).metadata
    return load_service_model(name).metadata


@cache
def _by_name() -> dict[str, CatalogEntry]:
    return {entry.name: entry for entry in catalog()}


def entries_signed_as(signing_name: str) -> tuple[CatalogEntry, ...]:
    return tuple(entry for entry in catalog() if entry.signing_name == signing_name)


def entries_with_target(target_prefix: str) -> tuple[CatalogEntry, ...]:
    return tuple(entry for entry in catalog() if entry.target_prefix and entry.target_prefix == target_prefix)


def entries_with_api_version(version: str) -> tuple[CatalogEntry, ...]:
    """Query-protocol services of that API version (how an unsigned query call names its service)."""
    return tuple(entry for entry in catalog() if entry.protocol in ("query", "ec2") and entry.api_version == version)


@cache
def skeleton_model(name: str, protocol: str = "") -> ServiceModel:
    """A model with the service's metadata and nothing else: enough to render its errors.

    ``protocol`` picks one of the protocols the model offers, for a client that spoke it.
    """
    metadata = dict(_by_name()[name].metadata)
    if protocol:
        metadata["protocol"] = protocol
    return ServiceModel({"metadata": metadata, "operations": {}, "shapes": {}}, service_name=name)
