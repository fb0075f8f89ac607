"""Lambda's control-plane tables: functions, their versions, aliases, resource policies and layers.

A function's ``$LATEST`` and each published version are rows of ``lambda_versions`` holding the
whole configuration as a JSON document (the FunctionConfiguration members Lambda reads back, the
environment kept encrypted) next to the code's store key, so a published version is an immutable
copy and an invoke reads one row. Version and layer-version numbers come from counters that never
go back, as at AWS (a deleted version's number is not reused).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from controller.state import JsonText, metadata

functions = Table(
    "lambda_functions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("tags", JsonText, nullable=False, default=dict),
    Column("reserved_concurrency", Integer),            # PutFunctionConcurrency; None when unset
    Column("last_version", Integer, nullable=False, default=0),   # the highest version number published
)

versions = Table(
    "lambda_versions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("version", String(16), primary_key=True),    # "$LATEST" or "1", "2"...
    #: FunctionConfiguration members as stored (Environment sealed; see controller/awslambda/configuration.py)
    Column("config", JsonText, nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("last_modified", String(32), nullable=False),
)

aliases = Table(
    "lambda_aliases", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("function_version", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("routing", JsonText, nullable=False, default=dict),   # AdditionalVersionWeights
    Column("revision_id", String(36), nullable=False),
)

#: Resource-based policies (AddPermission): one per function ("" qualifier), version or alias.
policies = Table(
    "lambda_policies", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("document", JsonText, nullable=False),
)

layers = Table(
    "lambda_layers", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(140), primary_key=True),
    Column("last_version", Integer, nullable=False),
)

layer_versions = Table(
    "lambda_layer_versions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True),
    #: Description, CompatibleRuntimes, CompatibleArchitectures, LicenseInfo, CreatedDate, CodeSha256, CodeSize, sha hex
    Column("document", JsonText, nullable=False),
    Column("policy", JsonText),                          # AddLayerVersionPermission statements
)
