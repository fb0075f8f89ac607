"""A Cloud for in-process cognito-idp tests: operations called as an account's root, a pool and a client
made in one call, and the codes the delivery log received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.cloud import Cloud
from controller.config import Config
from tests.unit.harness import ACCOUNT, CloudHarness

PASSWORD = "Passw0rd!"


class CognitoCloud(CloudHarness):
    service = "cognito-idp"

    def pool(self, **settings: Any) -> str:
        """A new pool (email auto-verified unless ``settings`` say otherwise); its id."""
        params = {"PoolName": "pool", "AutoVerifiedAttributes": ["email"], **settings}
        return self.call("CreateUserPool", params)["UserPool"]["Id"]

    def client(self, pool_id: str, **settings: Any) -> dict[str, Any]:
        """A client allowing every password flow; its UserPoolClient shape."""
        params = {"UserPoolId": pool_id, "ClientName": "app",
                  "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                        "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"], **settings}
        return self.call("CreateUserPoolClient", params)["UserPoolClient"]

    def deliveries(self) -> list[dict[str, str]]:
        path = Path(self.config.data_dir) / "cognito" / "deliveries.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def last_code(self, username: str) -> str:
        return [d for d in self.deliveries() if d["username"] == username][-1]["code"]



def make(tmp_path: Path) -> CognitoCloud:
    """A harness on a new Cloud in ``tmp_path`` (the caller closes it)."""
    return CognitoCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
