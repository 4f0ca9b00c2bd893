#!/usr/bin/env python3
"""Cross-checks the AWS simulator with an independent client: boto3/botocore (their own SigV4
signer and response parsers) replay the cases of tests/sim_sdk.rs and must see AWS's error
code, message text and HTTP status from tests/fixtures/aws, and parse every success.

Usage:
  check_simulator.py --endpoint http://127.0.0.1:PORT --scenario tests/boto3/scenario.toml \
      --fixtures tests/fixtures/aws [--expire-hook] [--web-identity-tokens TOKENS.json]

Access keys are read from the scenario file (users by name). With --expire-hook the script
prints the line `EXPIRE_SESSIONS` and waits for one line on stdin before replaying expired
sessions (the caller expires every issued session in between); without it those cases are
skipped.

With --web-identity-tokens (a JSON object of service account tokens the caller minted with the
scenario's cluster key: irsa, irsa_wrong_subject, irsa_wrong_audience, irsa_expired,
pod_identity) the Kubernetes cases run too: STS AssumeRoleWithWebIdentity (unsigned, as botocore
sends it) and botocore's own container credentials provider against the EKS Pod Identity
endpoint.

Prints one line per case and a final `N passed, M failed`; exits 1 when a case failed.
"""

import argparse
import json
import os
import sys
import time
import tomllib

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions

PROBE_ROLE = "arn:aws:iam::210987654321:role/BedrockProbeRole"
STREAMING_ROLE = "arn:aws:iam::210987654321:role/StreamingProbeRole"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "hi"}],
    }
)


class CaseFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CaseFailed(what)


def expect_eq(got, want, what):
    if got != want:
        raise CaseFailed(f"{what}: got {got!r}, want {want!r}")


class Checker:
    def __init__(self, endpoint, scenario, fixtures):
        self.endpoint = endpoint
        self.fixtures = fixtures
        self.keys = {}
        for user in scenario.get("users", []):
            keys = user.get("access_keys", [])
            if keys:
                self.keys[user["name"]] = (keys[0]["id"], keys[0]["secret"])
        self.config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=10,
        )
        self.passed = 0
        self.failed = 0

    # -- clients ---------------------------------------------------------------------------

    def client(self, service, creds, region="us-east-1"):
        ak, sk, token = creds
        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=ak,
            aws_secret_access_key=sk,
            aws_session_token=token,
            config=self.config,
        )

    def user(self, name):
        if name not in self.keys:
            raise CaseFailed(f"scenario has no user {name!r}")
        ak, sk = self.keys[name]
        return (ak, sk, None)

    def assume(self, caller, role_arn, session, external_id=None):
        kwargs = {"RoleArn": role_arn, "RoleSessionName": session}
        if external_id is not None:
            kwargs["ExternalId"] = external_id
        out = self.client("sts", caller).assume_role(**kwargs)
        c = out["Credentials"]
        return (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    def probe_role(self):
        return self.assume(self.user("mc.my.inventory"), PROBE_ROLE, "bedrock-probe", "probe-ext")

    def role_session(self, user, account, role, session):
        return self.assume(self.user(user), f"arn:aws:iam::{account}:role/{role}", session)

    def converse(self, creds, region, model):
        return self.client("bedrock-runtime", creds, region).converse(
            modelId=model,
            messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
            inferenceConfig={"maxTokens": 1},
        )

    def converse_stream(self, creds, region, model):
        """ConverseStream read to its end: (event names, text, usage); raises on an error event."""
        out = self.client("bedrock-runtime", creds, region).converse_stream(
            modelId=model,
            messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
            inferenceConfig={"maxTokens": 1},
        )
        names, text, usage = [], "", None
        for event in out["stream"]:
            (name,) = event.keys()
            names.append(name)
            if name == "contentBlockDelta":
                text += event[name]["delta"]["text"]
            if name == "metadata":
                usage = event[name]["usage"]
        return names, text, usage

    def invoke_stream(self, creds, region, model, body):
        """InvokeModelWithResponseStream read to its end: (content type, decoded chunks)."""
        out = self.client("bedrock-runtime", creds, region).invoke_model_with_response_stream(
            modelId=model, contentType="application/json", accept="application/json", body=body.encode()
        )
        return out["contentType"], [json.loads(e["chunk"]["bytes"]) for e in out["body"]]

    def invoke(self, creds, region, model, body):
        return self.client("bedrock-runtime", creds, region).invoke_model(
            modelId=model,
            contentType="application/json",
            accept="application/json",
            body=body.encode(),
        )

    # -- fixtures --------------------------------------------------------------------------

    def fixture(self, name):
        path = os.path.join(self.fixtures, name + ".json")
        with open(path, encoding="utf-8") as f:
            v = json.load(f)
        body = v.get("body") or ""
        if v.get("service") == "sts":

            def between(open_, close):
                if open_ not in body:
                    return ""
                return body.split(open_, 1)[1].split(close, 1)[0]

            code, message = between("<Code>", "</Code>"), between("<Message>", "</Message>")
        else:
            code = (v.get("headers", {}).get("x-amzn-ErrorType") or "").split(":")[0]
            try:
                b = json.loads(body)
            except ValueError:
                b = {}
            message = b.get("message", b.get("Message", "")) if isinstance(b, dict) else ""
        return {"status": v.get("status"), "code": code, "message": message, "body": body}

    def refused(self, name, call, adapt=None):
        """`call` must fail with the fixture's status, code and (adapted) message."""
        f = self.fixture(name)
        try:
            out = call()
        except botocore.exceptions.ClientError as e:
            got = (
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                e.response.get("Error", {}).get("Code"),
                e.response.get("Error", {}).get("Message"),
            )
            want_message = adapt(f["message"]) if adapt else f["message"]
            want = (f["status"], f["code"], want_message)
            expect_eq(got, want, f"fixture {name} (status, code, message)")
            return
        # Only the member names: a success may carry (simulated) secrets, never printed.
        members = sorted(k for k in out if k != "ResponseMetadata") if isinstance(out, dict) else []
        raise CaseFailed(f"fixture {name}: expected an AWS error, the call succeeded with {members}")

    # -- running ---------------------------------------------------------------------------

    def run(self, name, fn):
        try:
            fn()
        except CaseFailed as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            return
        except botocore.exceptions.ClientError as e:
            self.failed += 1
            err = e.response.get("Error", {})
            print(f"FAIL {name}: unexpected AWS error {err.get('Code')}: {err.get('Message')}", flush=True)
            return
        except Exception as e:  # noqa: BLE001 - any parser or connection failure is a failed case
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            return
        self.passed += 1
        print(f"ok   {name}", flush=True)


def availability_case(c, creds_fn, name):
    def case():
        f = c.fixture(name)
        want = json.loads(f["body"])
        out = c.client("bedrock", creds_fn()).get_foundation_model_availability(modelId=want["modelId"])
        expect_eq(out["modelId"], want["modelId"], "modelId")
        expect_eq(
            out.get("agreementAvailability", {}).get("status"),
            want["agreementAvailability"]["status"],
            "agreementAvailability.status",
        )
        expect_eq(
            out.get("agreementAvailability", {}).get("errorMessage"),
            want["agreementAvailability"].get("errorMessage"),
            "agreementAvailability.errorMessage",
        )
        for member in ["authorizationStatus", "entitlementAvailability", "regionAvailability"]:
            expect_eq(out.get(member), want[member], member)

    return case


def cases(c):
    """(name, function) pairs; the expired-session cases come last (they need the hook)."""
    inv = lambda: c.user("mc.my.inventory")  # noqa: E731
    out = []

    def add(name):
        def deco(fn):
            out.append((name, fn))
            return fn

        return deco

    # credentials ---------------------------------------------------------------------------
    @add("source_user_gets_its_identity_from_get_caller_identity")
    def _():
        r = c.client("sts", inv()).get_caller_identity()
        expect_eq(r["Account"], "123456789012", "Account")
        expect_eq(r["Arn"], "arn:aws:iam::123456789012:user/mc.my.inventory", "Arn")
        expect(r["UserId"].startswith("AIDA") and len(r["UserId"]) == 21, f"UserId {r['UserId']!r}")
        expect(r["ResponseMetadata"].get("RequestId"), "request id parsed")

    @add("deleted_access_key_fails_get_caller_identity_with_invalid_client_token_id")
    def _():
        creds = ("AKIADELETEDKEY000001", "whatever", None)
        c.refused(
            "credentials--invalid_credentials--sts-invalidclienttokenid-raw",
            lambda: c.client("sts", creds).get_caller_identity(),
        )

    # assume_role ---------------------------------------------------------------------------
    @add("source_assumes_the_probe_role_with_its_external_id_and_acts_as_the_role")
    def _():
        r = c.client("sts", inv()).assume_role(
            RoleArn=PROBE_ROLE, RoleSessionName="bedrock-probe", ExternalId="probe-ext", DurationSeconds=900
        )
        user = r["AssumedRoleUser"]
        expect_eq(user["Arn"], "arn:aws:sts::210987654321:assumed-role/BedrockProbeRole/bedrock-probe", "Arn")
        rid = user["AssumedRoleId"]
        expect(rid.startswith("AROA") and rid.endswith(":bedrock-probe"), f"AssumedRoleId {rid!r}")
        cr = r["Credentials"]
        expect(cr["AccessKeyId"].startswith("ASIA"), f"AccessKeyId {cr['AccessKeyId']!r}")
        left = cr["Expiration"].timestamp() - time.time()
        expect(880 <= left <= 901, f"session expires in {left:.0f}s")
        creds = (cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"])
        me = c.client("sts", creds, "us-west-2").get_caller_identity()
        expect_eq(me["Account"], "210987654321", "Account of the session")
        expect_eq(me["Arn"], user["Arn"], "Arn of the session")

    @add("user_assuming_a_same_account_role_that_trusts_another_account_gets_the_bare_denial")
    def _():
        c.refused(
            "assume_role--assume_role_denied--iam-user-caller",
            lambda: c.client("sts", inv()).assume_role(
                RoleArn="arn:aws:iam::123456789012:role/AmazonOrders", RoleSessionName="orders"
            ),
        )

    @add("instance_role_assuming_a_cross_account_role_that_does_not_trust_it_gets_the_bare_denial")
    def _():
        inst = c.role_session("monkey", "111122223333", "SecurityMonkeyInstanceProfile", "i-e68888")
        c.refused(
            "assume_role--assume_role_denied--cross-account-raw",
            lambda: c.client("sts", inst).assume_role(
                RoleArn="arn:aws:iam::444455556666:role/SecurityMonkey", RoleSessionName="monkey"
            ),
        )

    @add("probe_role_without_or_with_the_wrong_external_id_is_denied_with_the_bare_text")
    def _():
        for ext in [None, "wrong-ext"]:
            kwargs = {"RoleArn": PROBE_ROLE, "RoleSessionName": "bedrock-probe"}
            if ext:
                kwargs["ExternalId"] = ext
            try:
                c.client("sts", inv()).assume_role(**kwargs)
            except botocore.exceptions.ClientError as e:
                expect_eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 403, "status")
                expect_eq(e.response["Error"]["Code"], "AccessDenied", "code")
                expect_eq(
                    e.response["Error"]["Message"],
                    "User: arn:aws:iam::123456789012:user/mc.my.inventory is not authorized to perform: "
                    "sts:AssumeRole on resource: arn:aws:iam::210987654321:role/BedrockProbeRole",
                    "message",
                )
                continue
            raise CaseFailed(f"external id {ext!r}: AssumeRole succeeded")

    @add("lambda_role_without_sts_assume_role_in_its_policy_is_not_permitted_cross_account")
    def _():
        lam = c.role_session(
            "deployer",
            "568672915267",
            "IsbCostCollectionStack-CollectorCostCollectorLambdaServiceRole...",
            "isb-lease-costs-collector",
        )
        c.refused(
            "assume_role--assume_role_not_permitted--cross-account-lambda",
            lambda: c.client("sts", lam).assume_role(
                RoleArn="arn:aws:iam::955063685555:role/isb-lease-costs-explorer-role", RoleSessionName="costs"
            ),
        )

    @add("assume_role_signed_with_the_wrong_secret_fails_with_signature_does_not_match")
    def _():
        ak, _, _ = inv()
        c.refused(
            "assume_role--invalid_credentials--sts-signaturedoesnotmatch",
            lambda: c.client("sts", (ak, "not-the-secret", None)).assume_role(
                RoleArn=PROBE_ROLE, RoleSessionName="bedrock-probe"
            ),
        )

    @add("assume_role_in_a_region_where_sts_is_not_activated_fails_with_region_disabled")
    def _():
        c.refused(
            "assume_role--region_disabled--sts-regiondisabled",
            lambda: c.client("sts", inv(), "ap-east-1").assume_role(
                RoleArn=PROBE_ROLE, RoleSessionName="bedrock-probe", ExternalId="probe-ext"
            ),
        )

    @add("asking_for_a_two_hour_session_on_a_one_hour_role_fails_with_validation_error")
    def _():
        c.refused(
            "assume_role--session_duration_exceeded--validationerror",
            lambda: c.client("sts", inv()).assume_role(
                RoleArn=PROBE_ROLE, RoleSessionName="bedrock-probe", ExternalId="probe-ext", DurationSeconds=7200
            ),
        )

    # model_access --------------------------------------------------------------------------
    for fixture_name in [
        "model_access--ok--availability-all-available",
        "model_access--model_access_not_granted--availability-not-authorized",
        "model_access--model_access_pending--availability-pending",
        "model_access--marketplace_subscription_required--availability-error",
    ]:
        out.append((f"availability_matches_{fixture_name}", availability_case(c, c.probe_role, fixture_name)))

    @add("model_not_offered_in_the_region_shows_region_not_available")
    def _():
        r = c.client("bedrock", c.probe_role(), "eu-west-3").get_foundation_model_availability(modelId=HAIKU)
        expect_eq(r["regionAvailability"], "NOT_AVAILABLE", "regionAvailability")

    @add("inference_profile_foundation_model_and_model_list_parse")
    def _():
        role = c.probe_role()
        b = c.client("bedrock", role)
        p = b.get_inference_profile(inferenceProfileIdentifier="us.anthropic.claude-3-7-sonnet-20250219-v1:0")
        expect_eq(p["inferenceProfileId"], "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "inferenceProfileId")
        expect_eq(
            [m.get("modelArn") for m in p["models"]],
            [
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
            ],
            "profile models",
        )
        fm = b.get_foundation_model(modelIdentifier=HAIKU)
        expect_eq(fm["modelDetails"]["modelId"], HAIKU, "GetFoundationModel modelId")
        lst = b.list_foundation_models(byOutputModality="EMBEDDING")
        expect_eq([s["modelId"] for s in lst["modelSummaries"]], ["amazon.titan-embed-text-v2:0"], "embedding models")

    # invoke --------------------------------------------------------------------------------
    @add("probe_role_converses_with_one_output_token_and_usage_is_counted")
    def _():
        r = c.converse(c.probe_role(), "us-east-1", HAIKU)
        u = r["usage"]
        expect_eq(u["outputTokens"], 1, "outputTokens")
        expect(u["inputTokens"] > 0 and u["totalTokens"] == u["inputTokens"] + 1, f"usage {u}")
        expect_eq(r["stopReason"], "max_tokens", "stopReason")
        expect(isinstance(r["output"]["message"]["content"], list), "output message content")
        expect("latencyMs" in r["metrics"], "metrics.latencyMs")

    @add("probe_role_invokes_through_the_profile_and_the_embedding_model")
    def _():
        role = c.probe_role()
        c.converse(role, "us-west-2", "us.anthropic.claude-3-7-sonnet-20250219-v1:0")
        r = c.invoke(role, "us-east-1", "amazon.titan-embed-text-v2:0", json.dumps({"inputText": "hi"}))
        v = json.loads(r["body"].read())
        expect_eq(len(v["embedding"]), 256, "embedding length")
        r = c.invoke(role, "us-east-1", HAIKU, ANTHROPIC_BODY)
        expect(r["contentType"].startswith("application/json"), f"contentType {r['contentType']!r}")
        v = json.loads(r["body"].read())
        expect_eq(v["usage"]["output_tokens"], 1, "usage.output_tokens")
        expect_eq(v["stop_reason"], "max_tokens", "stop_reason")

    @add("lambda_role_without_bedrock_invoke_model_is_implicitly_denied")
    def _():
        role = c.role_session(
            "lambda-deployer",
            "308535385114",
            "cargo-lambda-role-f8380435-1d42-4de1-93f6-49711d68eb4a",
            "log_classifier",
        )
        c.refused(
            "invoke--bedrock_not_permitted--invokemodel-implicit-deny",
            lambda: c.invoke(role, "us-east-1", HAIKU, ANTHROPIC_BODY),
        )

    def converse_variant(m):
        return m.replace("bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel").replace(
            "arn:aws:bedrock:::", "arn:aws:bedrock:us-east-1::"
        )

    @add("role_whose_own_policy_denies_the_model_is_refused_with_an_explicit_identity_deny")
    def _():
        role = c.role_session("tenant-admin", "048212345678", "mcp-tenantOperator", "dxxxx")
        c.refused(
            "invoke--explicit_deny--identity-policy-capital-message",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-sonnet-4-20250514-v1:0"),
            converse_variant,
        )

    @add("organisation_scp_denies_invocation_in_the_account")
    def _():
        role = c.role_session(
            "bedrock-prober", "123456789012", "badgers-agent-ws-role-a1b2c3d4", "BedrockAgentCore-e5f6a7b8"
        )
        # The sample came from ConverseStream with a region-less ARN; the rest, down to the
        # denying policy's ARN, is the same sentence.
        c.refused(
            "invoke--scp_denied--policy-arn-suffix",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-opus-4-6-v1"),
            converse_variant,
        )

    @add("model_access_never_granted_refuses_converse_and_invoke_model")
    def _():
        role = c.probe_role()
        model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
        c.refused(
            "invoke--model_access_not_granted--dont-have-access-conversestream",
            lambda: c.converse(role, "us-east-1", model),
        )
        c.refused(
            "invoke--model_access_not_granted--dont-have-access-invokemodel",
            lambda: c.invoke(role, "us-east-1", model, ANTHROPIC_BODY),
        )

    @add("invoking_while_the_subscription_is_still_being_processed_says_so")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--model_access_pending--mp-agreement-being-created",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-sonnet-4-20250514-v1:0"),
        )

    @add("model_not_offered_to_the_account_is_refused_at_invocation_while_the_control_plane_says_authorized")
    def _():
        role = c.probe_role()
        out = c.client("bedrock", role).get_foundation_model_availability(modelId="anthropic.claude-opus-4-7")
        expect_eq(out.get("authorizationStatus"), "AUTHORIZED", "authorizationStatus")
        expect_eq(out.get("regionAvailability"), "AVAILABLE", "regionAvailability")
        c.refused(
            "invoke--account_not_authorized--not-available-for-this-account",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-opus-4-7"),
        )

    @add("a_model_failing_in_itself_answers_424_model_error_exception")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--service_unavailable--model-error-tooluse",
            lambda: c.converse(role, "us-east-1", "amazon.nova-pro-v1:0"),
        )

    @add("model_granted_in_another_region_only_is_refused_with_account_not_authorized")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--model_access_not_granted--account-not-authorized-validation",
            lambda: c.invoke(
                role, "us-east-1", "meta.llama3-8b-instruct-v1:0", json.dumps({"prompt": "hi", "max_gen_len": 1})
            ),
        )
        c.refused(
            "invoke--model_access_not_granted--account-not-authorized-2023",
            lambda: c.invoke(role, "us-east-1", "amazon.titan-text-lite-v1", json.dumps({"inputText": "hi"})),
        )

    @add("first_invocation_of_a_marketplace_model_without_marketplace_permissions_is_denied")
    def _():
        role = c.role_session(
            "idp-deployer",
            "957524092737",
            "idp-main-PATTERN2STACK-13-ClassificationFunctionRol-uuxCAdmYnVnX",
            "idp-main-PATTERN2STACK-13DO-ClassificationFunction-UmmEN3l89owG",
        )
        c.refused(
            "invoke--marketplace_subscription_required--enhanced-iam-15min",
            lambda: c.converse(role, "us-east-1", "cohere.command-r-plus-v1:0"),
        )

    @add("anthropic_model_in_an_account_without_the_use_case_form_is_refused")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--use_case_form_required--fill-out-form",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        )

    @add("model_offered_only_through_a_profile_is_refused_by_bare_id")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--inference_profile_required--claude-3-7-u2019",
            lambda: c.converse(role, "us-east-1", "anthropic.claude-3-7-sonnet-20250219-v1:0"),
        )
        c.refused(
            "invoke--inference_profile_required--nova-lite-u2019",
            lambda: c.converse(role, "us-east-1", "amazon.nova-lite-v1:0"),
        )

    @add("model_not_offered_in_the_region_is_an_invalid_identifier_or_unresolvable")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--model_not_in_region--invalid-model-identifier", lambda: c.converse(role, "eu-west-3", HAIKU)
        )
        c.refused(
            "invoke--model_not_in_region--could-not-resolve-foundation-model",
            lambda: c.invoke(role, "eu-west-3", HAIKU, ANTHROPIC_BODY),
        )

    @add("legacy_model_unused_for_weeks_and_end_of_life_model_are_refused")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--model_legacy_no_access--legacy-15-days",
            lambda: c.invoke(role, "us-east-1", "anthropic.claude-v2:1", ANTHROPIC_BODY),
        )
        c.refused(
            "invoke--model_end_of_life--end-of-life", lambda: c.converse(role, "us-east-1", "anthropic.claude-instant-v1")
        )

    @add("account_with_its_daily_token_quota_used_up_is_throttled_per_day")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--daily_token_quota_exhausted--too-many-tokens-per-day",
            lambda: c.converse(role, "us-east-1", "mistral.mistral-large-2402-v1:0"),
        )

    @add("injected_faults_throttle_and_make_bedrock_unavailable")
    def _():
        role = c.probe_role()
        c.refused("invoke--throttled--too-many-tokens", lambda: c.converse(role, "us-east-1", "ai21.jamba-1-5-mini-v1:0"))
        c.refused(
            "invoke--service_unavailable--unable-to-process",
            lambda: c.converse(role, "us-east-1", "ai21.jamba-1-5-large-v1:0"),
        )

    @add("asking_for_more_tokens_than_the_model_allows_is_a_validation_error")
    def _():
        role = c.probe_role()
        body = json.dumps(
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5000,
                "messages": [{"role": "user", "content": "hi"}],
            }
        )
        c.refused(
            "invoke--validation_error--max-tokens-over-limit", lambda: c.invoke(role, "us-east-1", HAIKU, body)
        )

    @add("model_id_with_characters_no_model_id_has_fails_the_pattern_validation")
    def _():
        role = c.probe_role()
        c.refused(
            "invoke--validation_error--modelid-pattern-2023",
            lambda: c.invoke(role, "us-east-1", "anthropic.claude v2", ANTHROPIC_BODY),
            lambda m: m.replace("anthropic.claude-v2:0:100k", "anthropic.claude v2"),
        )

    # streaming -----------------------------------------------------------------------------
    streamer = lambda: c.assume(inv(), STREAMING_ROLE, "bedrock-probe", "probe-ext")  # noqa: E731

    @add("streaming_role_reads_a_converse_stream_to_its_end_with_the_usage")
    def _():
        names, text, usage = c.converse_stream(streamer(), "us-east-1", HAIKU)
        expect_eq(
            names,
            ["messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"],
            "ConverseStream events",
        )
        expect_eq(text, "Hi", "streamed text")
        expect_eq(usage["outputTokens"], 1, "usage.outputTokens")

    @add("streaming_role_reads_invoke_model_with_response_stream_chunks_and_invocation_metrics")
    def _():
        content_type, chunks = c.invoke_stream(streamer(), "us-east-1", HAIKU, ANTHROPIC_BODY)
        expect_eq(content_type, "application/json", "contentType")
        expect_eq(chunks[0]["type"], "message_start", "first chunk")
        metrics = chunks[-1].get("amazon-bedrock-invocationMetrics", {})
        expect_eq(metrics.get("outputTokenCount"), 1, "invocation metrics of the last chunk")

    @add("probe_role_may_invoke_but_is_refused_streaming_before_the_stream_opens")
    def _():
        role = c.probe_role()
        c.converse(role, "us-east-1", HAIKU)
        principal = "arn:aws:sts::210987654321:assumed-role/BedrockProbeRole/bedrock-probe"

        def adapt(m):
            return m.replace(
                "arn:aws:sts::308535385114:assumed-role/cargo-lambda-role-f8380435-1d42-4de1-93f6-49711d68eb4a/log_classifier",
                principal,
            ).replace("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

        c.refused(
            "invoke--bedrock_not_permitted--invokemodel-implicit-deny",
            lambda: c.converse_stream(role, "us-east-1", HAIKU),
            adapt,
        )
        c.refused(
            "invoke--bedrock_not_permitted--invokemodel-implicit-deny",
            lambda: c.invoke_stream(role, "us-east-1", HAIKU, ANTHROPIC_BODY),
            adapt,
        )

    @add("an_exception_event_in_an_open_stream_reaches_boto3_as_an_event_stream_error")
    def _():
        nova = "amazon.nova-micro-v1:0"
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 1}})
        for call in (
            lambda: c.converse_stream(streamer(), "us-east-1", nova),
            lambda: c.invoke_stream(streamer(), "us-east-1", nova, body),
        ):
            try:
                call()
            except botocore.exceptions.EventStreamError as e:
                err = e.response.get("Error", {})
                expect_eq(err.get("Code"), "throttlingException", "exception type")
                expect_eq(err.get("Message"), "Too many tokens, please wait before trying again.", "message")
                continue
            raise CaseFailed("the stream ended without its exception event")

    @add("unknown_key_is_refused_by_the_runtime")
    def _():
        c.refused(
            "invoke--invalid_credentials--bedrock-unrecognizedclient",
            lambda: c.invoke(("AKIADELETEDKEY000001", "x", None), "us-east-1", HAIKU, ANTHROPIC_BODY),
        )

    return out


IRSA_ROLE = "arn:aws:iam::123456789012:role/IrsaProbe"
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def web_identity_cases(c, tokens):
    """IRSA and EKS Pod Identity: what botocore sees of the simulator's answers."""
    sts = lambda: c.client("sts", c.user("mc.my.inventory"))  # noqa: E731 - creds unused: unsigned op

    def exchange(token):
        return sts().assume_role_with_web_identity(
            RoleArn=IRSA_ROLE, RoleSessionName="bedrock-access-exporter", WebIdentityToken=token
        )

    def refused(token, status, code, message=None, prefix=None):
        try:
            exchange(token)
        except botocore.exceptions.ClientError as e:
            expect_eq(e.response["ResponseMetadata"]["HTTPStatusCode"], status, "status")
            expect_eq(e.response["Error"]["Code"], code, "code")
            got = e.response["Error"]["Message"]
            if message is not None:
                expect_eq(got, message, "message")
            if prefix is not None:
                expect(got.startswith(prefix), f"message {got!r}")
            return
        raise CaseFailed("AssumeRoleWithWebIdentity succeeded")

    def irsa_token_becomes_the_role_session():
        r = exchange(tokens["irsa"])
        expect_eq(r["SubjectFromWebIdentityToken"], "system:serviceaccount:monitoring:bedrock-access-exporter", "subject")
        expect_eq(r["Audience"], "sts.amazonaws.com", "Audience")
        expect_eq(r["Provider"], f"arn:aws:iam::123456789012:oidc-provider/{OIDC}", "Provider")
        arn = "arn:aws:sts::123456789012:assumed-role/IrsaProbe/bedrock-access-exporter"
        expect_eq(r["AssumedRoleUser"]["Arn"], arn, "Arn")
        cr = r["Credentials"]
        left = cr["Expiration"].timestamp() - time.time()
        expect(3590 <= left <= 3601, f"session expires in {left:.0f}s")
        me = c.client("sts", (cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"])).get_caller_identity()
        expect_eq(me["Arn"], arn, "Arn of the session")

    def container(token_name, body):
        path = os.path.abspath(token_name + ".token")
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        env = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": c.endpoint + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": path,
        }
        return botocore.credentials.ContainerProvider(environ=env).load()

    def pod_identity_agent_hands_botocore_the_role_credentials():
        creds = container("pod", tokens["pod_identity"]).get_frozen_credentials()
        me = c.client("sts", (creds.access_key, creds.secret_key, creds.token)).get_caller_identity()
        want = "arn:aws:sts::123456789012:assumed-role/PodIdentityProbe/eks-probe-"
        expect(me["Arn"].startswith(want), f"Arn {me['Arn']!r}")

    def pod_identity_agent_refuses_a_token_that_is_not_one():
        try:
            container("garbage", "not-a-jwt")
        except botocore.exceptions.CredentialRetrievalError as e:
            text = str(e)
            expect("non 200 response 400" in text, f"status in {text!r}")
            expect("Service account token cannot be parsed" in text, f"agent's text in {text!r}")
            return
        raise CaseFailed("the container provider loaded credentials from a garbage token")

    return [
        ("web_identity_irsa_token_becomes_the_role_session", irsa_token_becomes_the_role_session),
        (
            "web_identity_token_of_another_service_account_is_not_authorized",
            lambda: refused(
                tokens["irsa_wrong_subject"], 403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            ),
        ),
        (
            "web_identity_token_for_another_audience_is_an_incorrect_audience",
            lambda: refused(tokens["irsa_wrong_audience"], 400, "InvalidIdentityToken", "Incorrect token audience"),
        ),
        (
            "web_identity_expired_token_is_an_expired_token_exception",
            lambda: refused(
                tokens["irsa_expired"], 400, "ExpiredTokenException", prefix="Token expired: current date/time "
            ),
        ),
        (
            "web_identity_garbage_is_not_a_valid_jwt",
            lambda: refused(
                "not-a-jwt",
                400,
                "InvalidIdentityToken",
                "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
            ),
        ),
        ("web_identity_pod_identity_agent_hands_botocore_the_role_credentials", pod_identity_agent_hands_botocore_the_role_credentials),
        ("web_identity_pod_identity_agent_refuses_a_token_that_is_not_one", pod_identity_agent_refuses_a_token_that_is_not_one),
    ]


def expired_cases(c, sessions):
    sts_session, runtime_session = sessions
    return [
        (
            "expired_session_replayed_on_sts_fails_with_expired_token",
            lambda: c.refused(
                "credentials--expired_credentials--sts-expiredtoken",
                lambda: c.client("sts", sts_session).get_caller_identity(),
            ),
        ),
        (
            "expired_session_replayed_on_the_runtime_fails_with_expired_token_exception",
            lambda: c.refused(
                "invoke--expired_credentials--bedrock-expiredtokenexception",
                lambda: c.invoke(runtime_session, "us-east-1", HAIKU, ANTHROPIC_BODY),
            ),
        ),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="simulator URL, e.g. http://127.0.0.1:4566")
    ap.add_argument("--scenario", required=True, help="scenario TOML the simulator runs (keys come from it)")
    ap.add_argument("--fixtures", required=True, help="directory of the AWS fixtures (tests/fixtures/aws)")
    ap.add_argument("--expire-hook", action="store_true", help="ask the caller to expire sessions via stdout/stdin")
    ap.add_argument("--web-identity-tokens", help="JSON file of minted service account tokens (Kubernetes cases)")
    args = ap.parse_args()

    with open(args.scenario, "rb") as f:
        scenario = tomllib.load(f)
    c = Checker(args.endpoint, scenario, args.fixtures)

    for name, fn in cases(c):
        c.run(name, fn)

    if args.web_identity_tokens:
        with open(args.web_identity_tokens, encoding="utf-8") as f:
            tokens = json.load(f)
        for name, fn in web_identity_cases(c, tokens):
            c.run(name, fn)
    else:
        print("skip web identity cases (no --web-identity-tokens)", flush=True)

    if args.expire_hook:
        sessions = []
        try:
            sessions = [c.probe_role(), c.probe_role()]
            # A session that works now ...
            c.client("sts", sessions[0]).get_caller_identity()
        except Exception as e:  # noqa: BLE001
            c.failed += 1
            print(f"FAIL sessions_for_the_expiry_cases: {type(e).__name__}: {e}", flush=True)
        if len(sessions) == 2:
            print("EXPIRE_SESSIONS", flush=True)
            sys.stdin.readline()
            # ... is refused once expired.
            for name, fn in expired_cases(c, sessions):
                c.run(name, fn)
    else:
        print("skip expired-session cases (no --expire-hook)", flush=True)

    print(f"{c.passed} passed, {c.failed} failed", flush=True)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
