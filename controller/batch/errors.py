"""AWS Batch's two errors (botocore's ``batch`` model): every client mistake is a ``ClientException`` (HTTP
400) with AWS's message; ``ServerException`` (500) is for Cloudlet's own failures only, never a refusal."""

from __future__ import annotations

from controller.errors import ServiceError, error

ClientException = error("ClientException", 400)
ServerException = error("ServerException", 500, sender_fault=False)

__all__ = ["ClientException", "ServerException", "ServiceError"]
