"""Sending fuzzed requests to a running Cloudlet and keeping the score.

Typed inputs go through a boto3 client with ``parameter_validation=False`` (botocore's own
serializers and signer, so every protocol detail but the values is right); raw cases are
signed with botocore's SigV4 signer and sent byte for byte with ``http.client``. Every
answer's status is recorded; a 5xx (or no answer at all) is a finding, kept with what
was sent so it can be replayed.
"""

from __future__ import annotations

import http.client
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.parsers import ResponseParserError
from sqlalchemy import inspect

from controller.config import Config
from controller.state import Database
from tests.fuzz.raw import RawCase
from tests.support import CloudletProcess, Credentials

#: Tables that change on every call whatever its outcome (the trail itself).
VOLATILE_TABLES = frozenset({"audit_events"})
#: Rows the cloud writes in the background, whatever a call's outcome: metrics that services publish
#: about themselves (namespaces ``AWS/...``, which PutMetricData refuses to callers) every few seconds.
#: Only the rest of such a table is counted, so a refused PutMetricData is still checked. (No ``LIKE 'AWS/%'``:
#: psycopg reads a ``%`` as a placeholder.)
CALLER_ROWS = {
    "cw_metrics": "substr(namespace, 1, 4) <> 'AWS/'",
    "cw_datapoints": "metric_id IN (SELECT metric_id FROM cw_metrics WHERE substr(namespace, 1, 4) <> 'AWS/')",
}
#: Operations whose name says they create or change something: a rejected one must leave no trace.
MUTATING_PREFIXES = ("Create", "Put", "Run", "Allocate", "Import", "Register", "Attach", "Associate", "Copy",
                     "Upload", "Enable", "Add", "Tag", "Untag", "Set", "Update", "Modify", "Replace", "Authorize",
                     "Complete", "Invite", "Accept", "Move", "Request", "Start", "Upload")


@dataclass
class Finding:
    what: str
    status: int | None
    detail: str


@dataclass
class Score:
    """Counts of what was sent and how it was answered."""

    sent: int = 0
    unsendable: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    state_checks: int = 0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def record(self, status: int | None, code: str, what: str, detail: str, *, allowed_5xx: bool = False) -> None:
        self.sent += 1
        self.statuses[status or 0] += 1
        self.codes[code] += 1
        if status is None or (status >= 500 and not allowed_5xx):
            self.findings.append(Finding(what, status, detail[:600]))


class StateDigest:
    """Row counts of every table of the cloud's state, read through the state layer with the cloud's own
    store (SQLite's file or its PostgreSQL database), to see a rejected call left none."""

    def __init__(self, cloud: CloudletProcess) -> None:
        self.db = Database(Config.load(cloud.data_dir).state_location)
        #: The schema is complete once the cloud answers (``cloudlet up`` creates it before serving).
        with self.db.read() as conn:
            tables = sorted(set(inspect(conn).get_table_names()) - VOLATILE_TABLES - {"alembic_version"})
        # One statement for all counts: a few hundred round trips per refused call would dominate the run.
        self._counts = " UNION ALL ".join(
            f"SELECT '{table}', count(*) FROM \"{table}\" WHERE {CALLER_ROWS.get(table, '1 = 1')}" for table in tables)

    def take(self) -> dict[str, int]:
        with self.db.read() as conn:
            return {table: count for table, count in conn.exec_driver_sql(self._counts)}

    def close(self) -> None:
        self.db.close()


class TypedSender:
    """Calls operations with arbitrary (unvalidated) input through boto3 clients, capturing the raw status.

    As the root user unless ``credentials`` are given (an IAM user's calls also go through the
    policy engine, whose request context is built from the same hostile input).
    """

    def __init__(self, cloud: CloudletProcess, credentials: Credentials | None = None) -> None:
        self.cloud = cloud
        self.credentials = credentials
        self.clients: dict[str, Any] = {}
        self.last_status: int | None = None
        self.last_body = b""

    def client(self, service: str) -> Any:
        if service not in self.clients:
            client = self.cloud.client(service, self.credentials, parameter_validation=False, connect_timeout=5,
                                       read_timeout=60, s3={"addressing_style": "path"})
            # The status as sent, read off the HTTP session: botocore's S3 handlers turn a 200 they
            # cannot parse into a 500 (to retry it) before any event handler could see it.
            session = client._endpoint.http_session
            send = session.send

            def capture(request: Any) -> Any:
                response = send(request)
                self.last_status = response.status_code
                self.last_body = response.content
                return response

            session.send = capture
            self.clients[service] = client
        return self.clients[service]

    def call(self, service: str, operation: str, params: dict[str, Any]) -> tuple[int | None, str] | None:
        """(status, error code) of the call (status None: no answer), or None when the client could not
        even build the request (botocore refuses some wrong types before sending)."""
        client = self.client(service)
        self.last_status, self.last_body = None, b""
        try:
            client._make_api_call(operation, params)
            return self.last_status, ""
        except botocore.exceptions.ClientError as exc:
            status = self.last_status or exc.response["ResponseMetadata"].get("HTTPStatusCode")
            return status, exc.response["Error"].get("Code", "")
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            if self.last_status is not None:
                return self.last_status, type(exc).__name__
            if isinstance(exc.kwargs.get("error"), ValueError):
                return None  # http.client refuses to send a header with a line break in it
            return None, f"no answer: {exc}"
        except ResponseParserError:
            return self.last_status, "unparseable"
        except Exception:  # noqa: BLE001  (any client-side refusal to build the request)
            if self.last_status is not None:
                return self.last_status, "client-side failure after the answer"
            return None


#: The status :meth:`RawSender.send` reports for a case HTTP itself cannot carry.
UNSENDABLE = -1


class RawSender:
    """Signs raw cases with a valid key and sends them exactly as written."""

    def __init__(self, cloud: CloudletProcess) -> None:
        self.cloud = cloud
        creds = cloud.root_credentials()
        self.credentials = BotoCredentials(creds.access_key_id, creds.secret_access_key)
        parts = urlsplit(cloud.endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def send(self, case: RawCase, signing_name: str, *, sign: bool = True) -> tuple[int | None, bytes]:
        headers = dict(case.headers)
        headers["host"] = f"{self.host}:{self.port}"
        if sign:
            request = AWSRequest(method=case.method, url=self.cloud.endpoint + case.target, data=case.body,
                                 headers=headers)
            signer = (S3SigV4Auth if signing_name == "s3" else SigV4Auth)(self.credentials, signing_name,
                                                                          self.cloud.region)
            signer.add_auth(request)
            headers = {name: value for name, value in request.headers.items()}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            try:
                connection.putrequest(case.method, case.target, skip_host=True, skip_accept_encoding=True)
                for name, value in [*headers.items(), *case.extra_headers]:
                    connection.putheader(name, value.encode("latin-1") if isinstance(value, str) else value)
            except ValueError:
                # A line break in a header or the target, or a header HTTP cannot carry (not Latin-1).
                return UNSENDABLE, b""
            connection.putheader("content-length", str(len(case.body)))
            connection.endheaders(case.body or None)
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            return None, repr(exc).encode()
        finally:
            connection.close()


def is_mutating(operation: str) -> bool:
    return operation.startswith(MUTATING_PREFIXES)
