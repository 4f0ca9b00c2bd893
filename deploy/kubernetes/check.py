#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests of bedrock-access-exporter (scripts/test.d/kubernetes.sh
renders them with kustomize and runs this):

  * every Kubernetes kind against the Kubernetes OpenAPI schemas shipped by kubernetes-validate
    (PyPI), strictly (unknown fields are errors), for the oldest and the newest version checked;
  * the Prometheus Operator kinds are written to OUT/crds.json for tools/k8s-schema/check.mjs,
    and each PrometheusRule's groups to OUT/rules-NAME.yml for `promtool check rules`;
  * what the manifests promise: the PrometheusRule holds exactly the groups of
    prometheus/recording.yml and prometheus/alerts.yml, the dashboards ConfigMap exactly
    dashboards/*.json with the sidecar label, the configuration passes `check-config`, the pod
    is hardened (non-root as the image's user, read-only root, no capabilities, RuntimeDefault
    seccomp, no privilege escalation), probes hit /-/healthy and /-/ready on the web port, the
    memory request covers the README's measured RSS, Service, ServiceMonitor/PodMonitor and
    NetworkPolicy agree on the port and labels, and the scrape job is the one the alerts select.

Usage: check.py --out DIR --binary EXPORTER NAME=RENDERED.yaml ...
       (NAME: base, overlay, or pod-identity+pod-monitor for the overlay with both components)
       check.py --out DIR --binary EXPORTER --unrendered base=CONCATENATED-BASE-FILES.yaml
       (without kustomize: the base's resource files as they are, every config.toml checked as a
       file, the overlays' and components' own files against the schemas, and every patch
       checked to name a base object)
Needs PyYAML and kubernetes-validate.
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
NAME = "bedrock-access-exporter"
OLDEST_KUBERNETES = "1.29.0"
CRD_GROUP = "monitoring.coreos.com/v1"
ENDPOINT_VARIABLES = [
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_IAM",
]
# Kept away from any proxy: the EKS Pod Identity agent (IPv4, IPv6) and the instance metadata
# service (IPv4, IPv6).
NO_PROXY_HOSTS = ["169.254.170.23", "fd00:ec2::23", "169.254.169.254", "fd00:ec2::254"]

problems = []


def fail(where, message):
    problems.append(f"{where}: {message}")


def quantity_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(q))
    if not m:
        raise ValueError(f"unsupported quantity {q!r}")
    return float(m.group(1)) * units.get(m.group(2) or "", 1)


def image_user():
    """USER of the Dockerfile's final stage, as (uid, gid)."""
    users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", (ROOT / "Dockerfile").read_text(), re.M)
    if not users:
        sys.exit("Dockerfile: no numeric USER uid:gid")
    return int(users[-1][0]), int(users[-1][1])


def measured_rss_mib():
    """The RSS the README's benchmark measured at 10,000 tuples."""
    m = re.search(r"^\| RSS < 150 MiB[^|]*\|\s*([\d.]+) MiB", (ROOT / "README.md").read_text(), re.M)
    if not m:
        sys.exit("README.md: no measured RSS row in Benchmarks")
    return float(m.group(1))


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(where, docs, kind):
    found = by_kind(docs, kind)
    if len(found) != 1:
        fail(where, f"expected one {kind}, found {len(found)}")
        return {}
    return found[0]


def validate_schemas(where, docs, versions):
    crds = []
    for d in docs:
        what = f"{where}: {d.get('kind')} {d.get('metadata', {}).get('name')}"
        if d.get("apiVersion") == CRD_GROUP:
            crds.append({"source": where, "doc": d})
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(what, f"Kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                fail(what, f"Kubernetes {version}: {e.message}")
    return crds


def check_rules(where, docs, out):
    rule = one(where, docs, "PrometheusRule")
    if not rule:
        return
    want = []
    for path in ["prometheus/recording.yml", "prometheus/alerts.yml"]:
        want += yaml.safe_load((ROOT / path).read_text())["groups"]
    got = rule.get("spec", {}).get("groups")
    if got != want:
        fail(where, "PrometheusRule groups differ from prometheus/recording.yml + alerts.yml")
    (out / f"rules-{where}.yml").write_text(yaml.safe_dump({"groups": got}, sort_keys=False))


def check_dashboards(where, docs):
    cms = [d for d in by_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"].get("labels", {})]
    if len(cms) != 1:
        fail(where, f"expected one ConfigMap labelled grafana_dashboard, found {len(cms)}")
        return
    cm = cms[0]
    if cm["metadata"]["labels"]["grafana_dashboard"] != "1":
        fail(where, 'the dashboards ConfigMap is not labelled grafana_dashboard: "1"')
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "dashboards").glob("*.json"))}
    data = cm.get("data", {})
    if sorted(data) != sorted(files):
        fail(where, f"dashboards ConfigMap keys {sorted(data)} != dashboards/*.json {sorted(files)}")
    for name, text in files.items():
        if data.get(name) != text:
            fail(where, f"dashboards ConfigMap {name} differs from dashboards/{name}")
        else:
            json.loads(data[name])


def check_config_file(where, path, binary):
    r = subprocess.run([binary, "check-config", f"--config.file={path}"], capture_output=True, text=True)
    if r.returncode != 0:
        fail(where, f"{path} does not validate:\n{r.stdout}{r.stderr}")


def check_config(where, docs, sts, binary, unrendered):
    if unrendered:
        for path in sorted((ROOT / "deploy/kubernetes").glob("**/config.toml")):
            check_config_file(where, path, binary)
        return
    volumes = sts["spec"]["template"]["spec"].get("volumes", [])
    names = [v["configMap"]["name"] for v in volumes if "configMap" in v]
    cms = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] in names]
    if len(cms) != 1 or "config.toml" not in cms[0].get("data", {}):
        fail(where, f"the StatefulSet mounts no ConfigMap with config.toml (volumes: {names})")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
        f.write(cms[0]["data"]["config.toml"])
        f.flush()
        check_config_file(f"{where}: ConfigMap {cms[0]['metadata']['name']}", f.name, binary)


def env_value(container, name):
    return next((e.get("value") for e in container.get("env", []) if e["name"] == name), None)


def check_pod(where, sts):
    pod = sts["spec"]["template"]["spec"]
    uid, gid = image_user()
    psc = pod.get("securityContext", {})
    want_pod = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "seccompProfile": {"type": "RuntimeDefault"}}
    for key, value in want_pod.items():
        if psc.get(key) != value:
            fail(where, f"pod securityContext.{key} is {psc.get(key)!r}, want {value!r}")
    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "the pod mounts a Kubernetes API token it never uses")
    containers = pod.get("containers", [])
    if len(containers) != 1:
        fail(where, f"expected one container, found {len(containers)}")
        return {}
    c = containers[0]
    sc = c.get("securityContext", {})
    want = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for key, value in want.items():
        if sc.get(key) != value:
            fail(where, f"container securityContext.{key} is {sc.get(key)!r}, want {value!r}")
    ports = {p["name"]: p for p in c.get("ports", [])}
    if ports.get("web", {}).get("containerPort") != 9819:
        fail(where, f"no container port web = 9819: {c.get('ports')}")
    if "--web.listen-address=:9819" not in c.get("args", []):
        fail(where, f"the daemon does not listen on :9819: {c.get('args')}")
    for probe, path in [("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")]:
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("web", 9819):
            fail(where, f"{probe} is {c.get(probe)}, want GET {path} on the web port")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    if "--config.file=/etc/bedrock-access-exporter/config.toml" not in c.get("args", []) or not mounts.get(
        "/etc/bedrock-access-exporter", {}
    ).get("readOnly"):
        fail(where, "the configuration is not read from a read-only mount at /etc/bedrock-access-exporter")
    check_resources(where, c.get("resources", {}))
    no_proxy = (env_value(c, "NO_PROXY") or "").split(",")
    for host in NO_PROXY_HOSTS:
        if host not in no_proxy:
            fail(where, f"NO_PROXY does not exempt {host}: {no_proxy}")
    return c


def check_resources(where, res):
    rss = measured_rss_mib() * 2**20
    req = res.get("requests", {})
    lim = res.get("limits", {})
    if "memory" not in req or quantity_bytes(req["memory"]) < rss:
        fail(where, f"memory request {req.get('memory')} is below the measured RSS of {rss / 2**20} MiB")
    if "memory" not in lim or quantity_bytes(lim["memory"]) < quantity_bytes(req.get("memory", 0)):
        fail(where, f"memory limit {lim.get('memory')} missing or below the request")
    if "cpu" not in req:
        fail(where, "no cpu request")


def check_network(where, docs, sts, components):
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    np = one(where, docs, "NetworkPolicy")
    if not np:
        return
    spec = np["spec"]
    if not subset(spec.get("podSelector", {}).get("matchLabels", {}), pod_labels):
        fail(where, "the NetworkPolicy does not select the exporter pods")
    if sorted(spec.get("policyTypes", [])) != ["Egress", "Ingress"]:
        fail(where, f"the NetworkPolicy does not restrict both directions: {spec.get('policyTypes')}")
    for rule in spec.get("ingress", []):
        if rule.get("ports") != [{"port": "web", "protocol": "TCP"}]:
            fail(where, f"ingress rule opens more than the web port: {rule}")
    allowed = [{"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    agent = [{"ipBlock": {"cidr": "169.254.170.23/32"}}, {"ipBlock": {"cidr": "fd00:ec2::23/128"}}]
    egress_ports = []
    for rule in spec.get("egress", []):
        if rule.get("to") == agent and rule.get("ports") == [{"port": 80, "protocol": "TCP"}]:
            egress_ports.append("agent")
            continue
        if "to" in rule:
            fail(where, f"unexpected egress destination: {rule}")
        for p in rule.get("ports", [None]):
            if p not in allowed:
                fail(where, f"egress beyond HTTPS and DNS: {p}")
            egress_ports.append(p)
    if ("agent" in egress_ports) != ("pod-identity" in components):
        fail(where, "egress to the Pod Identity agent must be open exactly with the pod-identity component")
    for p in allowed:
        if p not in egress_ports:
            fail(where, f"egress {p} is not allowed")


def subset(small, big):
    return bool(small) and all(big.get(k) == v for k, v in small.items())


def check_scrape(where, docs, sts, components):
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    svc = one(where, docs, "Service")
    if svc:
        if svc["spec"].get("clusterIP") != "None" or sts["spec"].get("serviceName") != svc["metadata"]["name"]:
            fail(where, "the StatefulSet's service is not the headless Service")
        if not subset(svc["spec"].get("selector", {}), pod_labels):
            fail(where, "the Service does not select the exporter pods")
        if [(p["name"], p.get("targetPort")) for p in svc["spec"]["ports"]] != [("web", "web")]:
            fail(where, f"the Service exposes more or less than the web port: {svc['spec']['ports']}")
    kind = "PodMonitor" if "pod-monitor" in components else "ServiceMonitor"
    other = "ServiceMonitor" if kind == "PodMonitor" else "PodMonitor"
    if by_kind(docs, other):
        fail(where, f"both a {kind} and a {other}: every pod would be scraped twice")
    mon = one(where, docs, kind)
    if not mon:
        return
    spec = mon["spec"]
    labelled = pod_labels if kind == "PodMonitor" else (svc or {}).get("metadata", {}).get("labels", {})
    if not subset(spec["selector"].get("matchLabels", {}), labelled):
        fail(where, f"the {kind} selects nothing of the exporter")
    endpoints = spec.get("podMetricsEndpoints" if kind == "PodMonitor" else "endpoints", [])
    if [(e.get("port"), e.get("path")) for e in endpoints] != [("web", "/metrics")]:
        fail(where, f"the {kind} does not scrape /metrics on the web port: {endpoints}")
    job = labelled.get(spec.get("jobLabel", ""), None)
    if f'up{{job="{job}"}}' not in (ROOT / "prometheus/alerts.yml").read_text():
        fail(where, f"the {kind} makes job={job!r}, which the exporter-health alerts do not select")


def check_identity(where, docs, sts, components):
    sa = one(where, docs, "ServiceAccount")
    if not sa:
        return
    if sts["spec"]["template"]["spec"].get("serviceAccountName") != sa["metadata"]["name"]:
        fail(where, "the pods do not run as the ServiceAccount")
    arn = sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
    if "pod-identity" in components:
        if arn is not None:
            fail(where, "Pod Identity with an IRSA role annotation left on the ServiceAccount")
    elif not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn or ""):
        fail(where, f"IRSA role annotation missing or not a role ARN: {arn!r}")
    if sa.get("automountServiceAccountToken") is not False:
        fail(where, "the ServiceAccount mounts API tokens")


def patch_problems(doc, version):
    """Schema errors of a partial object (a strategic-merge patch): unknown fields and wrong
    types count, missing required fields do not (the base supplies them). The same strict
    schemas kubernetes-validate uses, through its own loader, with every error reported."""
    import jsonschema
    from kubernetes_validate.utils import schema_contents
    from referencing import Registry, Resource

    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    schema = schema_contents(f"{folder}/{doc['kind'].lower()}-{api}.json", version)
    registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(schema_contents(f"{folder}/_definitions.json", version)) @ registry
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return [e for e in validator.iter_errors(doc) if e.validator != "required"]


def check_patches(docs, versions):
    """Without kustomize: the overlays' and components' own files (resources, patch files) pass
    the schemas, and every patch names an object of the base. Returns their CRD documents."""
    have = {(d["kind"], d["metadata"]["name"]) for d in docs}
    crds = []
    for kfile in sorted((ROOT / "deploy/kubernetes").glob("*/*/kustomization.yaml")):
        where = kfile.parent.relative_to(ROOT).as_posix()
        kustomization = yaml.safe_load(kfile.read_text())
        for res in kustomization.get("resources", []):
            if (kfile.parent / res).is_file():
                crds += validate_schemas(f"{where}/{res}", [yaml.safe_load((kfile.parent / res).read_text())], versions)
        for patch in kustomization.get("patches", []):
            if "path" in patch:
                target = yaml.safe_load((kfile.parent / patch["path"]).read_text())
                for version in versions:
                    for e in patch_problems(target, version):
                        fail(f"{where}/{patch['path']}", f"Kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
                kinds, name = [target["kind"]], target["metadata"]["name"]
            elif "target" in patch:
                kinds, name = patch["target"]["kind"].split("|"), patch["target"].get("name")
            else:
                target = yaml.safe_load(patch["patch"])
                kinds, name = [target["kind"]], target["metadata"]["name"]
            if not any(k == kind and name in (None, n) for kind, n in have for k in kinds):
                fail(where, f"a patch names {'|'.join(kinds)} {name}, which the base does not have")
    return crds


def check_shards(where, sts):
    """Several replicas shard the tuples: --shard.count equals spec.replicas and every pod takes
    its index from its ordinal (--shard.index=auto); one replica needs neither."""
    replicas = sts["spec"].get("replicas", 1)
    args = sts["spec"]["template"]["spec"]["containers"][0].get("args", [])
    count = [a.split("=", 1)[1] for a in args if a.startswith("--shard.count=")]
    index = [a.split("=", 1)[1] for a in args if a.startswith("--shard.index=")]
    if replicas == 1 and not count:
        return
    if count != [str(replicas)]:
        fail(where, f"--shard.count {count} must equal spec.replicas ({replicas}): each pod probes 1/count of the tuples")
    if index != ["auto"]:
        fail(where, f"--shard.index {index} must be auto: each pod takes its StatefulSet ordinal")
    if sts["spec"].get("podManagementPolicy") != "Parallel":
        fail(where, "shards are independent: podManagementPolicy Parallel")


def check_render(where, docs, binary, out, unrendered=False):
    components = where.split("+")
    sts = one(where, docs, "StatefulSet")
    if not sts:
        return
    check_shards(where, sts)
    pdb = one(where, docs, "PodDisruptionBudget")
    if pdb and not subset(pdb["spec"]["selector"]["matchLabels"], sts["spec"]["template"]["metadata"]["labels"]):
        fail(where, "the PodDisruptionBudget does not select the exporter pods")
    check_pod(where, sts)
    check_config(where, docs, sts, binary, unrendered)
    check_network(where, docs, sts, components)
    check_scrape(where, docs, sts, components)
    check_identity(where, docs, sts, components)
    check_rules(where, docs, out)
    check_dashboards(where, docs)


def check_sources():
    """The endpoint variables and proxy exemptions are documented where operators look."""
    sts = (ROOT / "deploy/kubernetes/base/statefulset.yaml").read_text()
    env = (ROOT / "systemd/bedrock-access-exporter.env").read_text()
    for var in ENDPOINT_VARIABLES:
        if not re.search(rf"^\s*#\s*- name: {var}$", sts, re.M):
            fail("deploy/kubernetes/base/statefulset.yaml", f"no commented example of {var}")
        if not re.search(rf"^#{var}=\S+$", env, re.M):
            fail("systemd/bedrock-access-exporter.env", f"no commented example of {var}")
    no_proxy = re.findall(r"^NO_PROXY=(\S+)$", env, re.M)
    if len(no_proxy) != 1:
        fail("systemd/bedrock-access-exporter.env", f"expected one NO_PROXY setting, found {len(no_proxy)}")
    for host in NO_PROXY_HOSTS:
        if not any(host in n.split(",") for n in no_proxy):
            fail("systemd/bedrock-access-exporter.env", f"NO_PROXY does not exempt {host}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--unrendered", action="store_true")
    ap.add_argument("renders", nargs="+", metavar="NAME=FILE")
    args = ap.parse_args()
    versions = [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]
    crds = []
    for spec in args.renders:
        where, path = spec.split("=", 1)
        docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
        if not docs:
            fail(where, f"{path} holds no documents")
            continue
        crds += validate_schemas(where, docs, versions)
        check_render(where, docs, args.binary, args.out, args.unrendered)
        if args.unrendered:
            crds += check_patches(docs, versions)
    check_sources()
    (args.out / "crds.json").write_text(json.dumps(crds))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"check.py: {len(args.renders)} render(s) OK against Kubernetes {' and '.join(versions)}")


if __name__ == "__main__":
    main()
