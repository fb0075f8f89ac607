"""Reachability Analyzer's tables: network insights paths and their analyses.

A path is stored as the caller wrote it (``source``/``destination`` keep an ARN when one was given, as
AWS echoes them) beside the ids the analysis uses. An analysis keeps its verdict in AWS's output shapes
(``ForwardPathComponents``…) as JSON, and the probe that confirms it through the dataplane with its outcome; a path with analyses
cannot be deleted (AWS's ``AnalysisExistsForNetworkInsightsPath``), which the foreign key backs up.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table

from controller.ec2 import ids
from controller.ec2.tags import owned_by_account, register_taggable
from controller.ec2.vpc.state import ID
from controller.state import JsonText, UtcDateTime, metadata

RESOURCE = 2048  # an ARN

paths = Table(
    "ec2_network_insights_paths", metadata,
    Column("path_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("source", String(RESOURCE), nullable=False),
    Column("source_id", String(ID), nullable=False),
    Column("destination", String(RESOURCE)),
    Column("destination_id", String(ID)),
    Column("source_ip", String(15)),
    Column("destination_ip", String(15)),
    #: tcp | udp
    Column("protocol", String(3), nullable=False),
    Column("destination_port", Integer),
    Column("filter_at_source", JsonText),
    Column("filter_at_destination", JsonText),
    Column("client_token", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
)

analyses = Table(
    "ec2_network_insights_analyses", metadata,
    Column("analysis_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("path_id", String(ID), ForeignKey("ec2_network_insights_paths.path_id"), nullable=False, index=True),
    Column("filter_in_arns", JsonText, nullable=False),
    #: running (its dataplane probe is out: see probes.py) | succeeded (the verdict is computed at the start)
    Column("status", String(16), nullable=False),
    Column("path_found", Boolean),
    #: {"ForwardPathComponents": [...], "ReturnPathComponents": [...], "Explanations": [...]}
    Column("result", JsonText),
    #: analysis.Probe as a dict, plus its ``outcome`` once known (probes.py; None while the probe is out).
    Column("probe", JsonText),
    Column("client_token", String(64)),
    Column("started_at", UtcDateTime, nullable=False),
)

register_taggable(ids.NETWORK_INSIGHTS_PATH, owned_by_account(paths, "path_id"))
register_taggable(ids.NETWORK_INSIGHTS_ANALYSIS, owned_by_account(analyses, "analysis_id"))
