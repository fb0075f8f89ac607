"""USER_SRP_AUTH end to end with a third-party client: pycognito's SRP (the same math as AWS's own
amazon-cognito-identity-js) signs in against a real ``cloudlet up`` and gets tokens that verify; a wrong
password, a tampered claim and a replayed secret block are refused as Cognito refuses them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
PASSWORD = "Passw0rd!"


@pytest.fixture
def srp_client(cloudlet: CloudletProcess, unique: str) -> Iterator[tuple[Any, str, str, str | None]]:
    idp = cloudlet.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    plain = idp.create_user_pool_client(UserPoolId=pool, ClientName="app", ExplicitAuthFlows=[
        "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    secret = idp.create_user_pool_client(UserPoolId=pool, ClientName="server", GenerateSecret=True)["UserPoolClient"]
    idp.admin_create_user(UserPoolId=pool, Username="carol", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="carol", Password=PASSWORD, Permanent=True)
    yield idp, pool, plain, secret
    idp.delete_user_pool(UserPoolId=pool)


def test_pycognito_signs_in_with_srp(cloudlet: CloudletProcess, srp_client: Any) -> None:
    idp, pool, client_id, _ = srp_client
    public = cloudlet.client("cognito-idp", signature_version=UNSIGNED)
    result = AWSSRP(username="carol", password=PASSWORD, pool_id=pool, client_id=client_id,
                    client=public).authenticate_user()["AuthenticationResult"]
    claims = idp.get_user(AccessToken=result["AccessToken"])
    assert claims["Username"] == "carol"
    assert {"IdToken", "AccessToken", "RefreshToken"} <= set(result)


def test_a_client_with_a_secret_signs_in_with_srp(cloudlet: CloudletProcess, srp_client: Any) -> None:
    _, pool, _, secret = srp_client
    public = cloudlet.client("cognito-idp", signature_version=UNSIGNED)
    result = AWSSRP(username="carol", password=PASSWORD, pool_id=pool, client_id=secret["ClientId"],
                    client_secret=secret["ClientSecret"], client=public).authenticate_user()
    assert "AccessToken" in result["AuthenticationResult"]


def test_a_wrong_password_a_tampered_claim_and_a_replay_are_refused(cloudlet: CloudletProcess,
                                                                     srp_client: Any) -> None:
    _, pool, client_id, _ = srp_client
    public = cloudlet.client("cognito-idp", signature_version=UNSIGNED)
    with pytest.raises(ClientError) as wrong:
        AWSSRP(username="carol", password="Wr0ng-password", pool_id=pool, client_id=client_id,
               client=public).authenticate_user()
    assert wrong.value.response["Error"]["Code"] == "NotAuthorizedException"

    helper = AWSSRP(username="carol", password=PASSWORD, pool_id=pool, client_id=client_id, client=public)
    asked = helper.get_auth_params()
    challenge = public.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=asked)
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
    answer = helper.process_challenge(challenge["ChallengeParameters"], asked)
    signature = answer["PASSWORD_CLAIM_SIGNATURE"]
    tampered = dict(answer, PASSWORD_CLAIM_SIGNATURE=("B" if signature[0] == "A" else "A") + signature[1:])
    with pytest.raises(ClientError) as refused:
        public.respond_to_auth_challenge(ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=tampered)
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    with pytest.raises(ClientError) as replayed:  # the block was used up by the refused answer
        public.respond_to_auth_challenge(ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=answer)
    assert replayed.value.response["Error"]["Message"] == "Invalid session for the user, session is expired."
    with pytest.raises(ClientError) as bad_a:
        public.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH",
                             AuthParameters={"USERNAME": "carol", "SRP_A": "0"})
    assert bad_a.value.response["Error"]["Code"] == "InvalidParameterException"
