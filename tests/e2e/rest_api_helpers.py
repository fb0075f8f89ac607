"""What the REST API invoke tests share: building an API's resources and methods through boto3, and calling
its invoke URL in the path form that needs no DNS (``{endpoint}/_cloudlet/execute-api/{api}/{stage}/...``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import CloudletProcess

MOCK_TEMPLATE = {"application/json": '{"statusCode": 200}'}


def invoke_url(cloudlet: CloudletProcess, api_id: str, path: str) -> str:
    return f"{cloudlet.endpoint}/_cloudlet/execute-api/{api_id}{path}"


def resource(apigw: Any, api_id: str, path: str) -> str:
    """The id of the resource at ``path``, creating the missing parts."""
    existing = {item["path"]: item["id"] for item in apigw.get_resources(restApiId=api_id, limit=500)["items"]}
    parent = existing["/"]
    built = ""
    for part in [p for p in path.split("/") if p]:
        built += "/" + part
        if built not in existing:
            existing[built] = apigw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]
        parent = existing[built]
    return parent


def mock_method(apigw: Any, api_id: str, path: str, method: str = "GET", *, response_template: str,
                **method_args: Any) -> str:
    """A MOCK method answering 200 with ``response_template`` (VTL); returns the resource id."""
    resource_id = resource(apigw, api_id, path)
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                     authorizationType=method_args.pop("authorizationType", "NONE"), **method_args)
    apigw.put_method_response(restApiId=api_id, resourceId=resource_id, httpMethod=method, statusCode="200")
    apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method, type="MOCK",
                          requestTemplates=MOCK_TEMPLATE)
    apigw.put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                                   statusCode="200", responseTemplates={"application/json": response_template})
    return resource_id


class _Echo(BaseHTTPRequestHandler):
    """A backend that answers with what it received, as JSON (and a CORS header of its own)."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.dumps({"method": self.command, "path": self.path, "body": self.rfile.read(length).decode(),
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("access-control-allow-origin", "https://backend-says.example")  # the CORS tests look
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def echo_backend() -> Iterator[str]:
    """An HTTP backend on 127.0.0.1 for the duration; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
