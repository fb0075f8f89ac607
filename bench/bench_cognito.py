"""Cognito InitiateAuth (USER_PASSWORD_AUTH) per second, against STS GetCallerIdentity in the same run.

GetCallerIdentity is the cheapest signed call Cloudlet serves (the floor of the HTTP, SigV4 and audit
path); InitiateAuth adds what signing in costs: the user lookup, an scrypt password check (n=2**14,
deliberately slow against offline guessing), two RS256 signatures and a refresh-token row. Each
workload runs ``--rounds`` times with ``--threads`` closed-loop boto3 clients; the median round is
reported, with p50/p99 and the ratio.

    .venv/bin/python bench/bench_cognito.py [--seconds 3] [--threads 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import boto3
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from common import LoadResult, report, run_load

from tests.support import CloudletProcess

PASSWORD = "Bench-Passw0rd"


def _factory(cloud: CloudletProcess, service: str, *, signed: bool = True):
    creds = cloud.root_credentials()
    session = boto3.session.Session()

    def make():
        config = BotoConfig(retries={"max_attempts": 0}, max_pool_connections=1,
                            **({} if signed else {"signature_version": UNSIGNED}))
        client = session.client(service, endpoint_url=cloud.endpoint, region_name=cloud.region,
                                aws_access_key_id=creds.access_key_id,
                                aws_secret_access_key=creds.secret_access_key, config=config)
        return client

    return make


def _median_round(make_call, *, threads: int, seconds: float, rounds: int) -> LoadResult:
    results = sorted((run_load(make_call, threads=threads, seconds=seconds) for _ in range(rounds)),
                     key=lambda result: result.rps)
    return results[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cloud = CloudletProcess(Path(tmp) / "data").start()
        try:
            idp = cloud.client("cognito-idp")
            pool_id = idp.create_user_pool(PoolName="bench")["UserPool"]["Id"]
            client_id = idp.create_user_pool_client(
                UserPoolId=pool_id, ClientName="bench",
                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
            idp.admin_create_user(UserPoolId=pool_id, Username="bench", MessageAction="SUPPRESS")
            idp.admin_set_user_password(UserPoolId=pool_id, Username="bench", Password=PASSWORD, Permanent=True)

            make_idp, make_sts = _factory(cloud, "cognito-idp", signed=False), _factory(cloud, "sts")

            def sign_in():
                client = make_idp()
                return lambda: client.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                                    AuthParameters={"USERNAME": "bench", "PASSWORD": PASSWORD})

            def caller_identity():
                client = make_sts()
                return client.get_caller_identity

            options = {"threads": args.threads, "seconds": args.seconds, "rounds": args.rounds}
            auth = _median_round(sign_in, **options)
            floor = _median_round(caller_identity, **options)
        finally:
            cloud.stop()
    print(f"{args.threads} clients, {args.seconds:.0f} s x {args.rounds} rounds (median round)")
    print(auth.line("cognito InitiateAuth USER_PASSWORD"))
    print(floor.line("sts GetCallerIdentity"))
    print(f"InitiateAuth / GetCallerIdentity throughput ratio: {auth.rps / floor.rps:.3f}; "
          f"p50 ratio {auth.percentile(0.5) / floor.percentile(0.5):.1f}x")
    report(f"cognito InitiateAuth USER_PASSWORD_AUTH, {args.threads} clients: throughput", auth.rps, "req/s",
           p50_ms=auth.percentile(0.5) * 1000, p99_ms=auth.percentile(0.99) * 1000,
           sts_get_caller_identity_rps=floor.rps, ratio_to_sts=auth.rps / floor.rps)


if __name__ == "__main__":
    main()
