#!/usr/bin/env python3
"""Writes the Grafana dashboards of bedrock-access-exporter:

    dashboards/bedrock-access-overview.json   (uid bedrock-access-overview)
    dashboards/bedrock-access-tuple.json      (uid bedrock-access-tuple)

The fix text of each reason comes from prometheus/reasons.json (the same table the alerts use,
checked against the exporter's `Reason::fix()` by tests/dashboards_project.rs) and becomes a
value mapping of the `fix` column: the exporter exports no fix series, the dashboard maps the
`reason` label to its text.

Usage: python3 dashboards/generate.py           # rewrite the JSON files
       python3 dashboards/generate.py --check   # fail if they are not up to date
Only the Python standard library is used.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "dashboards"
REASONS = json.loads((ROOT / "prometheus" / "reasons.json").read_text(encoding="utf-8"))

SCHEMA_VERSION = 42  # @grafana/schema 13.2.3's defaultDashboard.schemaVersion
DS = {"type": "prometheus", "uid": "${datasource}"}
TUPLE = "job, instance, target, account_id, role_name, aws_region, model_id"
SEL = 'job=~"$job", target=~"$target", account_id=~"$account", aws_region=~"$region", model_id=~"$model"'
LAYER_SEL = SEL + ', layer=~"$layer"'
JOB_SEL = 'job=~"$job"'
LAYER_ORDER = ["credentials", "assume_role", "model_access", "invoke", "invoke_stream"]
TAGS = ["bedrock-access", "aws", "bedrock"]


# ------------------------------------------------------------------------------- building blocks


def target(expr, legend="__auto", instant=False, fmt="time_series", ref="A"):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "format": fmt,
        "refId": ref,
    }
    return t


def thresholds(*steps):
    """steps: (value or None, color)."""
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


PASS_FAIL = [
    {
        "type": "value",
        "options": {
            "1": {"text": "pass", "color": "green", "index": 0},
            "0": {"text": "FAIL", "color": "red", "index": 1},
        },
    }
]

FIX_MAPPING = [
    {
        "type": "value",
        "options": {r["reason"]: {"text": r["fix"], "index": i} for i, r in enumerate(REASONS)},
    }
]

CLASS_COLORS = [
    {
        "type": "value",
        "options": {
            "access": {"color": "red", "index": 0},
            "configuration": {"color": "orange", "index": 1},
            "transient": {"color": "blue", "index": 2},
        },
    }
]


def table_custom(cell="auto"):
    return {
        "align": "auto",
        "cellOptions": {"type": cell},
        "inspect": False,
        "filterable": True,
    }


def override(name, props):
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": k, "value": v} for k, v in props],
    }


class Layout:
    """Places panels left to right, top to bottom on Grafana's 24-column grid."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel = {
            "type": "row",
            "title": title,
            "collapsed": False,
            "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "id": self.next_id,
        }
        self.next_id += 1
        self.y += 1
        return panel


def panel(kind, title, description, targets, options, defaults, overrides=None, transformations=None):
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "options": options,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
    }
    if transformations:
        p["transformations"] = transformations
    return p


def stat(title, description, targets, unit="short", mappings=None, steps=None, text_mode="auto", color_mode="value"):
    defaults = {
        "unit": unit,
        "mappings": mappings or [],
        "thresholds": thresholds(*(steps or [(None, "green")])),
        "color": {"mode": "thresholds"},
    }
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "auto",
        "textMode": text_mode,
        "colorMode": color_mode,
        "graphMode": "none",
        "justifyMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
        "percentChangeColorMode": "standard",
    }
    return panel("stat", title, description, targets, options, defaults)


def timeseries(title, description, targets, unit="short", bars=False, stack=False, steps=None):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "axisSoftMin": 0,
    }
    defaults = {
        "unit": unit,
        "custom": custom,
        "color": {"mode": "palette-classic"},
        "thresholds": thresholds(*(steps or [(None, "green")])),
    }
    if steps:
        custom["thresholdsStyle"] = {"mode": "dashed"}
    options = {
        "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, description, targets, options, defaults)


def state_timeline(title, description, targets):
    defaults = {
        "mappings": PASS_FAIL,
        "thresholds": thresholds((None, "red"), (1, "green")),
        "color": {"mode": "thresholds"},
        "custom": {"fillOpacity": 80, "lineWidth": 0},
    }
    options = {
        "showValue": "never",
        "mergeValues": True,
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False, "calcs": []},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel("state-timeline", title, description, targets, options, defaults)


def table(title, description, targets, overrides=None, transformations=None, mappings=None, cell="auto", sort=None):
    defaults = {
        "custom": table_custom(cell),
        "mappings": mappings or [],
        "thresholds": thresholds((None, "green")),
        "color": {"mode": "thresholds"},
    }
    options = {"showHeader": True, "frameIndex": 0, "cellHeight": "sm"}
    if sort:
        options["sortBy"] = [{"displayName": sort, "desc": False}]
    return panel("table", title, description, targets, options, defaults, overrides, transformations)


def query_var(name, label, query, multi=True, include_all=True):
    v = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "regex": "",
    }
    if include_all:
        v["allValue"] = ".*"
        v["current"] = {"text": "All", "value": "$__all", "selected": True}
    return v


def variables(multi):
    """datasource, job, target, account, region, model, layer (chained on the tuple labels)."""
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
        },
        query_var("job", "Scrape job", "label_values(bedrock_access_probe_success, job)"),
        query_var("target", "Target", 'label_values(bedrock_access_probe_success{job=~"$job"}, target)', multi, True),
        query_var(
            "account",
            "Account",
            'label_values(bedrock_access_probe_success{job=~"$job", target=~"$target"}, account_id)',
            multi,
            True,
        ),
        query_var(
            "region",
            "Region",
            'label_values(bedrock_access_probe_success{job=~"$job", target=~"$target", account_id=~"$account"}, aws_region)',
            multi,
            True,
        ),
        query_var(
            "model",
            "Model",
            'label_values(bedrock_access_probe_success{job=~"$job", target=~"$target", account_id=~"$account", aws_region=~"$region"}, model_id)',
            multi,
            True,
        ),
        query_var("layer", "Layer", "label_values(bedrock_access_layer_success, layer)"),
    ]


def dashboard(uid, title, description, panels, multi, links):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": links,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": variables(multi)},
        "panels": panels,
    }


def dash_link(title, url, tooltip):
    return {
        "title": title,
        "type": "link",
        "url": url,
        "tooltip": tooltip,
        "icon": "dashboard",
        "tags": [],
        "asDropdown": False,
        "targetBlank": False,
        "includeVars": True,
        "keepTime": True,
    }


TUPLE_URL = (
    "/d/bedrock-access-tuple/bedrock-access-one-tuple?${__url_time_range}&${datasource:queryparam}"
    "&var-target=${__data.fields.target}&var-account=${__data.fields.account_id}"
    "&var-region=${__data.fields.aws_region}&var-model=${__data.fields.model_id}"
)


def failing_table(title, description, expr):
    hidden = {k: True for k in ("Time", "Value", "__name__", "job", "instance")}
    order = ["target", "account_id", "role_name", "aws_region", "model_id", "layer", "reason", "class", "error_code", "fix"]
    return table(
        title,
        description,
        [target(expr, instant=True, fmt="table")],
        overrides=[
            override("fix", [("mappings", FIX_MAPPING), ("custom.minWidth", 400)]),
            override("class", [("mappings", CLASS_COLORS), ("custom.cellOptions", {"type": "color-text"})]),
            override(
                "target",
                [("links", [{"title": "Drill down into this tuple", "url": TUPLE_URL}])],
            ),
        ],
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": hidden,
                    "indexByName": {k: i for i, k in enumerate(order)},
                    "renameByName": {"account_id": "account", "role_name": "role", "aws_region": "region", "model_id": "model"},
                },
            }
        ],
        sort="target",
    )


FAILING_EXPR = (
    'label_replace(\n  bedrock_access_failure_info{' + LAYER_SEL + '}\n'
    "  and on (" + TUPLE + ")\n"
    "    (bedrock_access_probe_success == 0),\n"
    '  "fix", "$1", "reason", "(.*)"\n)'
)


def disagreement(failing, passing, says):
    """Tuples whose `failing` layers fail with class access while the `passing` layer passes."""
    return (
        "label_replace(\n"
        f'  bedrock_access_failure_info{{{SEL}, layer=~"{failing}", class="access"}}\n'
        f"  and on ({TUPLE})\n"
        f'    (bedrock_access_layer_success{{{SEL}, layer="{passing}"}} == 1),\n'
        f'  "disagreement", "{says}", "", ""\n)'
    )


CONTROL_PLANE_EXPR = (
    disagreement("invoke|invoke_stream", "model_access", "control plane yes, invoke no: trust the runtime")
    + "\nor\n"
    + disagreement("model_access", "invoke", "control plane no, invoke yes: trust the runtime")
)


def control_plane_table():
    """Tuples where GetFoundationModelAvailability and the invocation disagree."""
    hidden = {k: True for k in ("Time", "Value", "__name__", "job", "instance", "class")}
    order = ["target", "account_id", "aws_region", "model_id", "disagreement", "layer", "reason", "error_code"]
    return table(
        "Control plane vs runtime",
        "Tuples where GetFoundationModelAvailability (model_access) and the invocation disagree, with a failure of "
        "class access. Control plane yes, invoke no: the account is refused at runtime (a model AWS does not offer to "
        "it, an account blocked) although the grant says AUTHORIZED/AVAILABLE; BedrockAccessControlPlaneDisagrees "
        "warns. Control plane no, invoke yes: the grant reads lag behind. Either way trust the runtime: the "
        "invocation is what applications live through. An activation still pending is not a disagreement.",
        [target(CONTROL_PLANE_EXPR, instant=True, fmt="table")],
        overrides=[
            override("target", [("links", [{"title": "Drill down into this tuple", "url": TUPLE_URL}])]),
        ],
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": hidden,
                    "indexByName": {k: i for i, k in enumerate(order)},
                    "renameByName": {"account_id": "account", "aws_region": "region", "model_id": "model"},
                },
            }
        ],
        sort="target",
    )


LIFECYCLE_DATES = [
    ("bedrock_access_model_legacy_timestamp_seconds", "Legacy from", "B"),
    ("bedrock_access_model_public_extended_access_timestamp_seconds", "extended access from", "C"),
    ("bedrock_access_model_end_of_life_timestamp_seconds", "end of life", "D"),
]


def lifecycle_table():
    """One row per probed (region, model): its lifecycle status and dates, and how many tuples use it."""
    by = "aws_region, model_id"
    targets = [target(f"count by ({by}, status) (bedrock_access_model_lifecycle_info{{{SEL}}})", instant=True, fmt="table")]
    for metric, _, ref in LIFECYCLE_DATES:
        targets.append(target(f"min by ({by}) ({metric}{{{SEL}}}) * 1000", instant=True, fmt="table", ref=ref))
    rename = {"aws_region": "region", "model_id": "model", "Value #A": "tuples"}
    rename.update({f"Value #{ref}": title for _, title, ref in LIFECYCLE_DATES})
    order = ["model_id", "aws_region", "status", "Value #B", "Value #C", "Value #D", "Value #A"]
    return table(
        "Model lifecycle: Legacy and end-of-life dates",
        "Per probed region and model, GetFoundationModel's lifecycle status and dates (read at most once per "
        "hour, only for targets with model_access on); empty where AWS announces no date. "
        "BedrockAccessModelLegacySoon and BedrockAccessModelEndOfLifeSoon warn 30 days ahead, naming the targets; "
        "tuples: how many probed tuples use the model there.",
        targets,
        overrides=[override(title, [("unit", "dateTimeAsIsoNoDateIfToday")]) for _, title, _ in LIFECYCLE_DATES],
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {k: i for i, k in enumerate(order)},
                    "renameByName": rename,
                },
            },
        ],
        sort="end of life",
    )


# ------------------------------------------------------------------------------- overview


def overview():
    L = Layout()
    p = []
    p.append(L.row("Now"))
    p.append(
        L.place(
            stat(
                "Tuples passing",
                "Tuples (target × region × model) whose last probe passed (guardrails: whose deny held).",
                [target(f"sum(bedrock_access_probe_success{{{SEL}}})", instant=True)],
                steps=[(None, "green")],
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Tuples failing",
                "Tuples whose last probe failed (bedrock_access_probe_success == 0).",
                [target(f"count(bedrock_access_probe_success{{{SEL}}} == 0) or vector(0)", instant=True)],
                steps=[(None, "green"), (1, "red")],
                color_mode="background",
            ),
            4,
            4,
        )
    )
    bg = panel(
        "bargauge",
        "Failing tuples by class",
        "access: a grant, permission or trust is missing (pages); configuration: the target cannot work as "
        "configured; transient: unknown this round. A tuple failing in two classes counts in both.",
        [target(f"count by (class) (bedrock_access:tuple_failing:by_class{{{SEL}}})", legend="{{class}}", instant=True)],
        {
            "orientation": "horizontal",
            "displayMode": "basic",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "left",
            "sizing": "auto",
            "minVizHeight": 10,
            "minVizWidth": 0,
            "maxVizHeight": 300,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False, "calcs": []},
        },
        {
            "unit": "short",
            "min": 0,
            "mappings": [],
            "thresholds": thresholds((None, "green")),
            "color": {"mode": "thresholds"},
        },
        overrides=[
            override("access", [("color", {"mode": "fixed", "fixedColor": "red"})]),
            override("configuration", [("color", {"mode": "fixed", "fixedColor": "orange"})]),
            override("transient", [("color", {"mode": "fixed", "fixedColor": "blue"})]),
        ],
    )
    p.append(L.place(bg, 8, 4))
    p.append(
        L.place(
            stat(
                "Tokens spent by probes (time range)",
                "Tokens the probes' invocations consumed over the dashboard's time range, by direction.",
                [
                    target(
                        f"sum by (direction) (increase(bedrock_access_invoke_tokens_total{{{SEL}}}[$__range]))",
                        legend="{{direction}}",
                        instant=True,
                    )
                ],
                unit="short",
                steps=[(None, "blue")],
            ),
            8,
            4,
        )
    )

    p.append(
        L.place(
            table(
                "Status matrix: tuples × layers",
                "Each row is a tuple (target · region · model), each column a layer of its last probe. "
                "Empty: not attempted (after a failed credentials/assume_role gate) or turned off "
                "(invoke_stream, the streaming invocation, runs only for targets with stream = true).",
                [
                    target(
                        'label_join(bedrock_access_layer_success{' + LAYER_SEL + '}, "tuple", " · ", "target", "aws_region", "model_id")',
                        instant=True,
                        fmt="table",
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {"columnField": "layer", "rowField": "tuple", "valueField": "Value", "emptyValue": "null"},
                    },
                    {
                        "id": "organize",
                        "options": {
                            "indexByName": {"tuple\\layer": 0, **{l: i + 1 for i, l in enumerate(LAYER_ORDER)}},
                            "renameByName": {"tuple\\layer": "tuple (target · region · model)"},
                            "excludeByName": {},
                        },
                    },
                ],
                mappings=PASS_FAIL
                + [{"type": "special", "options": {"match": "null", "result": {"text": "–", "color": "transparent", "index": 2}}}],
                cell="color-background",
                overrides=[override("tuple (target · region · model)", [("custom.cellOptions", {"type": "auto"})])],
                sort="tuple (target · region · model)",
            ),
            24,
            12,
        )
    )
    p.append(
        L.place(
            failing_table(
                "Failing tuples: layer, reason and fix",
                "One row per failing layer of each failing tuple (guardrail tuples whose deny holds are not failing). "
                "The fix is the exporter's text for the reason; the target links to the tuple's drill-down.",
                FAILING_EXPR,
            ),
            24,
            10,
        )
    )

    p.append(L.place(control_plane_table(), 24, 6))
    p.append(L.place(lifecycle_table(), 24, 6))

    p.append(L.row("History"))
    p.append(
        L.place(
            state_timeline(
                "probe_success over time",
                "bedrock_access_probe_success of each tuple (1 pass, 0 fail), from the last background probe.",
                [target(f"bedrock_access_probe_success{{{SEL}}}", legend="{{target}} · {{aws_region}} · {{model_id}}")],
            ),
            24,
            10,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Failing tuples by class",
                "Count of failing tuples per failure class over time.",
                [target(f"count by (class) (bedrock_access:tuple_failing:by_class{{{SEL}}})", legend="{{class}}")],
            ),
            12,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Tokens spent by probes",
                "Tokens per hour the probes' invocations consume (recording rule bedrock_access:invoke_tokens:rate5m).",
                [
                    target(
                        f"sum by (target, direction) (bedrock_access:invoke_tokens:rate5m{{{SEL}}}) * 3600",
                        legend="{{target}} {{direction}}",
                    )
                ],
                unit="short",
            ),
            12,
            8,
        )
    )

    p.append(L.row("Exporter health"))
    p.append(
        L.place(
            stat(
                "Exporter scraped",
                "up of the exporter's scrape job(s).",
                [target(f"up{{{JOB_SEL}}}", legend="{{instance}}", instant=True)],
                mappings=[{"type": "value", "options": {"1": {"text": "up", "color": "green", "index": 0}, "0": {"text": "DOWN", "color": "red", "index": 1}}}],
                steps=[(None, "red"), (1, "green")],
                color_mode="background",
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Last config reload",
                "bedrock_access_exporter_config_last_reload_successful: a failed reload keeps the previous configuration.",
                [target(f"bedrock_access_exporter_config_last_reload_successful{{{JOB_SEL}}}", legend="{{instance}}", instant=True)],
                mappings=[{"type": "value", "options": {"1": {"text": "ok", "color": "green", "index": 0}, "0": {"text": "FAILED", "color": "red", "index": 1}}}],
                steps=[(None, "red"), (1, "green")],
                color_mode="background",
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Tuples configured",
                "bedrock_access_exporter_tuples.",
                [target(f"sum(bedrock_access_exporter_tuples{{{JOB_SEL}}})", instant=True)],
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Version",
                "bedrock_access_exporter_build_info.",
                [target(f"bedrock_access_exporter_build_info{{{JOB_SEL}}}", legend="{{version}} ({{revision}})", instant=True)],
                text_mode="name",
                color_mode="none",
            ),
            12,
            4,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Probe age, in observed intervals",
                "How long ago each tuple's last probe finished, divided by its observed probe interval "
                "(recording rule bedrock_access:probe_interval_seconds:avg6h). Above 3: BedrockAccessProbeStale.",
                [
                    target(
                        f"max by (target) ((time() - bedrock_access_probe_timestamp_seconds{{{SEL}}}) / bedrock_access:probe_interval_seconds:avg6h{{{SEL}}})",
                        legend="{{target}}",
                    )
                ],
                steps=[(None, "green"), (3, "red")],
            ),
            8,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Probes in flight and schedule lag (p99)",
                "bedrock_access_exporter_probes_in_flight, and the 99th percentile of how late probes started.",
                [
                    target(f"sum by (instance) (bedrock_access_exporter_probes_in_flight{{{JOB_SEL}}})", legend="in flight {{instance}}"),
                    target(
                        f"histogram_quantile(0.99, sum by (instance, le) (rate(bedrock_access_exporter_schedule_lag_seconds_bucket{{{JOB_SEL}}}[$__rate_interval])))",
                        legend="lag p99 (s) {{instance}}",
                        ref="B",
                    ),
                ],
            ),
            8,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Exporter memory and CPU",
                "process_resident_memory_bytes and CPU seconds per second of the exporter process.",
                [
                    target(f"process_resident_memory_bytes{{{JOB_SEL}}} / 1024 / 1024", legend="RSS MiB {{instance}}"),
                    target(f"rate(process_cpu_seconds_total{{{JOB_SEL}}}[$__rate_interval])", legend="CPU {{instance}}", ref="B"),
                ],
            ),
            8,
            8,
        )
    )
    return dashboard(
        "bedrock-access-overview",
        "Bedrock access — overview",
        "Cross-account AWS Bedrock access probed by bedrock-access-exporter: which tuples pass which layer, "
        "what fails, why, and how to fix it.",
        p,
        True,
        [dash_link("One tuple", "/d/bedrock-access-tuple/bedrock-access-one-tuple", "Drill down into one tuple")],
    )


# ------------------------------------------------------------------------------- one tuple


def tuple_dashboard():
    L = Layout()
    p = []
    p.append(L.row("Last probe"))
    p.append(
        L.place(
            stat(
                "Probe result",
                "bedrock_access_probe_success of the last background probe.",
                [target(f"bedrock_access_probe_success{{{SEL}}}", legend="{{target}} · {{aws_region}} · {{model_id}}", instant=True)],
                mappings=PASS_FAIL,
                steps=[(None, "red"), (1, "green")],
                color_mode="background",
            ),
            6,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Last success",
                "bedrock_access_last_success_timestamp_seconds (0, shown as never, until a probe passed since the exporter started).",
                [target(f"bedrock_access_last_success_timestamp_seconds{{{SEL}}} * 1000", legend="{{target}} · {{aws_region}} · {{model_id}}", instant=True)],
                unit="dateTimeFromNow",
                mappings=[{"type": "value", "options": {"0": {"text": "never", "color": "red", "index": 0}}}],
            ),
            6,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Last probe finished",
                "bedrock_access_probe_timestamp_seconds.",
                [target(f"bedrock_access_probe_timestamp_seconds{{{SEL}}} * 1000", legend="{{target}} · {{aws_region}} · {{model_id}}", instant=True)],
                unit="dateTimeFromNow",
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Last invoke",
                "bedrock_access_invoke_timestamp_seconds: the paid layers (invoke, invoke_stream) may run less often (invoke_interval).",
                [target(f"bedrock_access_invoke_timestamp_seconds{{{SEL}}} * 1000", legend="{{target}} · {{aws_region}} · {{model_id}}", instant=True)],
                unit="dateTimeFromNow",
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            stat(
                "Observed probe interval",
                "Mean spacing of the last 6 h of probes (recording rule bedrock_access:probe_interval_seconds:avg6h).",
                [target(f"bedrock_access:probe_interval_seconds:avg6h{{{SEL}}}", legend="{{target}} · {{aws_region}} · {{model_id}}", instant=True)],
                unit="s",
            ),
            4,
            4,
        )
    )
    p.append(
        L.place(
            failing_table(
                "Current failures, with fix",
                "Failing layers of the last probe, with the reason's fix.",
                FAILING_EXPR,
            ),
            24,
            6,
        )
    )
    p.append(
        L.place(
            table(
                "Model availability",
                "GetFoundationModelAvailability's statuses from the model_access layer (agreement, authorization, entitlement, region).",
                [target(f"bedrock_access_model_availability{{{SEL}}}", instant=True, fmt="table")],
                transformations=[
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {k: True for k in ("Time", "Value", "__name__", "job", "instance", "role_name", "account_id")},
                            "indexByName": {"target": 0, "aws_region": 1, "model_id": 2, "dimension": 3, "status": 4},
                            "renameByName": {"aws_region": "region", "model_id": "model"},
                        },
                    }
                ],
                overrides=[
                    override(
                        "status",
                        [
                            (
                                "mappings",
                                [
                                    {
                                        "type": "regex",
                                        "options": {"pattern": "^(NOT_AVAILABLE|NOT_AUTHORIZED|ERROR)$", "result": {"color": "red", "index": 0}},
                                    },
                                    {"type": "regex", "options": {"pattern": "^PENDING$", "result": {"color": "orange", "index": 1}}},
                                    {"type": "regex", "options": {"pattern": "^(AVAILABLE|AUTHORIZED)$", "result": {"color": "green", "index": 2}}},
                                ],
                            ),
                            ("custom.cellOptions", {"type": "color-text"}),
                        ],
                    )
                ],
                sort="target",
            ),
            24,
            6,
        )
    )

    p.append(L.row("History"))
    p.append(
        L.place(
            state_timeline(
                "Layer history",
                "bedrock_access_layer_success per layer (gaps: not attempted).",
                [target(f"bedrock_access_layer_success{{{LAYER_SEL}}}", legend="{{layer}} · {{target}} · {{aws_region}} · {{model_id}}")],
            ),
            24,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Layer durations",
                "bedrock_access_layer_duration_seconds of each layer in the last probe.",
                [target(f"bedrock_access_layer_duration_seconds{{{LAYER_SEL}}}", legend="{{layer}} · {{target}} · {{aws_region}} · {{model_id}}")],
                unit="s",
            ),
            12,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Failures by reason",
                "Layer failures counted by bedrock_access_layer_failures_total, per layer and reason.",
                [
                    target(
                        f"sum by (layer, reason) (increase(bedrock_access_layer_failures_total{{{LAYER_SEL}}}[$__rate_interval]))",
                        legend="{{layer}}: {{reason}}",
                    )
                ],
                bars=True,
                stack=True,
            ),
            12,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Probes by result",
                "bedrock_access_probes_total, by result.",
                [target(f"sum by (result) (increase(bedrock_access_probes_total{{{SEL}}}[$__rate_interval]))", legend="{{result}}")],
                bars=True,
                stack=True,
            ),
            12,
            8,
        )
    )
    p.append(
        L.place(
            timeseries(
                "Tokens spent",
                "bedrock_access_invoke_tokens_total, by direction.",
                [target(f"sum by (direction) (increase(bedrock_access_invoke_tokens_total{{{SEL}}}[$__rate_interval]))", legend="{{direction}}")],
                bars=True,
                stack=True,
            ),
            12,
            8,
        )
    )
    return dashboard(
        "bedrock-access-tuple",
        "Bedrock access — one tuple",
        "One tuple (target × region × model) probed by bedrock-access-exporter: layer history, durations, "
        "failures by reason, model availability, last success.",
        p,
        False,
        [dash_link("Overview", "/d/bedrock-access-overview/bedrock-access-overview", "All tuples")],
    )


def render():
    return {
        "bedrock-access-overview.json": overview(),
        "bedrock-access-tuple.json": tuple_dashboard(),
    }


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for name, dash in render().items():
        text = json.dumps(dash, indent=2, ensure_ascii=False) + "\n"
        path = OUT / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"dashboards not up to date ({', '.join(stale)}): run python3 dashboards/generate.py", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
