#!/usr/bin/env python3
"""Cross-checks the simulator's Bedrock API key handling with an independent client: botocore
reads the key from AWS_BEARER_TOKEN_BEDROCK and sends it with its own bearer auth (no SigV4
signature), as applications that use API keys do. Each case must get what the AWS SDK for Rust
gets in tests/sim_api_keys.rs: success for a valid long-term and short-term key, AWS's
refusal text (tests/fixtures/aws) for an expired key of each kind, and the SCP's deny of
bedrock:CallWithBearerToken for long-term keys only.

Usage:
  check_api_keys.py --endpoint http://127.0.0.1:PORT --keys KEYS.json --fixtures tests/fixtures/aws

KEYS.json is an object of keys the caller made: long, lapsed, lab, short, short_expired,
lab_short. Prints one line per case and a final `N passed, M failed`; exits 1 when a case failed.
"""

import argparse
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ENV = "AWS_BEARER_TOKEN_BEDROCK"


class CaseFailed(Exception):
    pass


def with_key(key, call):
    """Runs `call` with the API key in AWS_BEARER_TOKEN_BEDROCK, botocore's only credential
    besides SigV4 credentials the simulator does not know (a signed request would fail).
    botocore reads the variable when it creates the client (its token) and again when it sends
    the request (its choice of the bearer scheme), so both happen inside."""
    os.environ[ENV] = key
    try:
        return call()
    finally:
        del os.environ[ENV]


def client(service, endpoint):
    return boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def converse(endpoint, key):
    return with_key(
        key,
        lambda: client("bedrock-runtime", endpoint).converse(
            modelId=HAIKU,
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            inferenceConfig={"maxTokens": 1},
        ),
    )


def availability(endpoint, key):
    return with_key(
        key, lambda: client("bedrock", endpoint).get_foundation_model_availability(modelId=HAIKU)
    )


def refused(call, code, status, message_part):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        got = (err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
        if got != (code, status) or message_part not in err.get("Message", ""):
            raise CaseFailed(f"got {got} {err.get('Message')!r}, want {(code, status)} …{message_part}…")
        return
    raise CaseFailed("the call succeeded")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args()
    with open(args.keys, encoding="utf-8") as f:
        keys = json.load(f)
    with open(
        os.path.join(args.fixtures, "invoke--invalid_credentials--api-key-authentication-failed.json"),
        encoding="utf-8",
    ) as f:
        auth_failed = json.loads(json.load(f)["body"])["Message"]
    e = args.endpoint

    def works(key):
        def case():
            out = converse(e, keys[key])
            if out["usage"]["outputTokens"] < 1:
                raise CaseFailed(f"no output: {out['usage']}")
            avail = availability(e, keys[key])
            if avail["authorizationStatus"] != "AUTHORIZED":
                raise CaseFailed(f"availability {avail}")
        return case

    cases = [
        ("long_term_key_converses_and_reads_availability", works("long")),
        ("short_term_key_converses_and_reads_availability", works("short")),
        (
            "expired_long_term_key_gets_aws_refusal",
            lambda: refused(lambda: converse(e, keys["lapsed"]), "AccessDeniedException", 403, auth_failed),
        ),
        (
            "expired_short_term_key_gets_aws_refusal",
            lambda: refused(lambda: converse(e, keys["short_expired"]), "AccessDeniedException", 403, auth_failed),
        ),
        (
            "scp_denies_long_term_keys_with_call_with_bearer_token",
            lambda: refused(
                lambda: converse(e, keys["lab"]),
                "AccessDeniedException",
                403,
                "bedrock:CallWithBearerToken on resource: * with an explicit deny in a service control policy",
            ),
        ),
        ("the_same_scp_lets_a_short_term_key_through", works("lab_short")),
    ]
    passed = failed = 0
    for name, case in cases:
        try:
            case()
            print(f"ok   {name}", flush=True)
            passed += 1
        except (CaseFailed, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as x:
            print(f"FAIL {name}: {x}", flush=True)
            failed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
