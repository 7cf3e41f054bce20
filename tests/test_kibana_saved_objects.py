"""The Kibana saved objects in include/kibana/ against the index templates in include/.

No Kibana runs here, so the objects are checked the way Kibana would resolve them: every
field a visualisation aggregates on, sorts by or queries (KQL) must be mapped by the template
of the index its data view reads, with a type that aggregation accepts; every reference
(dashboard -> visualisation -> data view) must resolve inside the import. The checker itself
is shown to catch each kind of mistake on altered copies.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
KIBANA_DIR = REPO / "include" / "kibana"
CONFIG_FILE = REPO / "include" / "kafka_monitor.yaml"
# Store setting -> its index template in include/ (the same pairs as kafka_monitor.store.sink).
TEMPLATE_FILES = {"lag_index": "mapping.json", "status_index": "status_mapping.json", "jmx_index": "jmx_mapping.json"}
# Data view id -> the store setting whose indices it reads (kafka-monitor-setup relies on these ids).
DATA_VIEWS = {
    "kafka-monitor-lag": "lag_index",
    "kafka-monitor-status": "status_index",
    "kafka-monitor-jmx": "jmx_index",
}
LAG_DASHBOARD = "kafka-monitor-mirrormaker-lag"
FLOW_DASHBOARD = "kafka-monitor-data-flow"

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
AGGREGATABLE = NUMERIC | {"keyword", "date", "date_nanos", "boolean", "ip", "constant_keyword"}
# Aggregation type -> the field types it accepts (None: any mapped field).
AGG_FIELD_TYPES = {
    "date_histogram": {"date", "date_nanos"},
    "max": NUMERIC | {"date"},
    "min": NUMERIC | {"date"},
    "avg": NUMERIC,
    "sum": NUMERIC,
    "median": NUMERIC,
    "percentiles": NUMERIC,
    "cardinality": AGGREGATABLE,
    "terms": AGGREGATABLE,
    "histogram": NUMERIC,
    "top_hits": None,  # reads _source, so text fields are fine
}
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
KQL_FIELD = re.compile(r"(?<![\w.@-])([A-Za-z0-9_@][\w.@-]*)\s*:")


# --------------------------------------------------------------------------- loading


def load_objects(directory: Path = KIBANA_DIR) -> list[dict]:
    objects = []
    for path in sorted(directory.glob("*.ndjson")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                obj = json.loads(line)
                obj["_where"] = f"{path.name}:{number}"
                objects.append(obj)
    return objects


def store_prefixes() -> dict[str, str]:
    store = yaml.safe_load(CONFIG_FILE.read_text())["store"]
    defaults = {"lag_index": "kafka-lag", "status_index": "kafka-monitor-status", "jmx_index": "kafka-jmx"}
    return {name: store.get(name, default) for name, default in defaults.items()}


class Mapping:
    """The fields an index template maps: explicit properties (with multi-fields) plus the
    dynamic templates that name a field family (``match``/``path_match``). A catch-all
    template that only says "strings become keywords" names no field, so it proves nothing."""

    def __init__(self, template: dict, source: str):
        mappings = template.get("template", template).get("mappings", template.get("mappings", template))
        self.source = source
        self.index_patterns = template.get("index_patterns", [])
        self.fields: dict[str, str] = {}
        self._walk(mappings.get("properties", {}), "")
        self.families: list[tuple[str, str, str]] = []  # (kind, pattern, type)
        for entry in mappings.get("dynamic_templates", []):
            ((name, spec),) = entry.items()
            field_type = spec.get("mapping", {}).get("type", "object")
            if "path_match" in spec:
                self.families.append(("path_glob", spec["path_match"], field_type))
            elif "match" in spec:
                kind = "name_regex" if spec.get("match_pattern") == "regex" else "name_glob"
                self.families.append((kind, spec["match"], field_type))

    def _walk(self, properties: dict, prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec or spec.get("type") == "object":
                self.fields[path] = "object"
                self._walk(spec.get("properties", {}), f"{path}.")
            else:
                self.fields[path] = spec.get("type", "object")
            for sub, sub_spec in spec.get("fields", {}).items():
                self.fields[f"{path}.{sub}"] = sub_spec.get("type", "keyword")

    def type_of(self, field: str) -> str | None:
        if field in self.fields:
            return self.fields[field]
        leaf = field.rsplit(".", 1)[-1]
        for kind, pattern, field_type in self.families:
            if kind == "path_glob" and fnmatch.fnmatchcase(field, pattern):
                return field_type
            if kind == "name_glob" and fnmatch.fnmatchcase(leaf, pattern):
                return field_type
            if kind == "name_regex" and re.search(pattern, leaf):
                return field_type
        return None


def load_mappings(include: Path = REPO / "include") -> dict[str, Mapping]:
    """Data view id -> the mapping of the indices it reads."""
    result = {}
    for view_id, setting in DATA_VIEWS.items():
        path = include / TEMPLATE_FILES[setting]
        result[view_id] = Mapping(json.loads(path.read_text()), path.name)
    return result


# --------------------------------------------------------------------------- checking


def kql_fields(query: str) -> set[str]:
    return set(KQL_FIELD.findall(QUOTED.sub('""', query)))


def field_uses(vis_state: dict) -> list[tuple[str, str, str]]:
    """(field, aggregation type, parameter) of every field a visualisation's aggregations use."""
    uses = []
    for agg in vis_state.get("aggs", []):
        params = agg.get("params", {})
        for param in ("field", "sortField"):
            if params.get(param):
                uses.append((params[param], agg["type"], param))
    return uses


def check_saved_objects(objects: list[dict], mappings: dict[str, Mapping]) -> list[str]:
    """Every problem Kibana would hit on import or when drawing a panel, one line each."""
    problems: list[str] = []
    by_key: dict[tuple[str, str], dict] = {}
    for obj in objects:
        key = (obj.get("type"), obj.get("id"))
        if key in by_key:
            problems.append(f"{obj['_where']}: {key[0]} {key[1]!r} is defined twice")
        by_key[key] = obj

    for obj in objects:
        where = f"{obj['_where']} ({obj.get('type')} {obj.get('id')!r})"
        refs = {ref["name"]: ref for ref in obj.get("references", [])}
        for ref in refs.values():
            if (ref["type"], ref["id"]) not in by_key:
                problems.append(
                    f"{where}: reference {ref['name']!r} -> {ref['type']} {ref['id']!r} is not in the import"
                )
        attributes = obj.get("attributes", {})

        if obj.get("type") == "index-pattern" and obj["id"] not in mappings:
            problems.append(f"{where}: data view with no index template to check it against")

        if obj.get("type") == "visualization":
            state = json.loads(attributes["visState"])
            search = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            if state.get("title") != attributes.get("title"):
                problems.append(
                    f"{where}: visState title {state.get('title')!r} differs from {attributes.get('title')!r}"
                )
            used = field_uses(state)
            query = search.get("query", {}).get("query", "")
            if "indexRefName" not in search:
                if used or query:
                    problems.append(f"{where}: uses fields but reads no data view")
                continue
            ref = refs.get(search["indexRefName"])
            if ref is None:
                problems.append(f"{where}: indexRefName {search['indexRefName']!r} has no reference")
                continue
            mapping = mappings.get(ref["id"])
            if mapping is None:
                problems.append(f"{where}: reads data view {ref['id']!r}, which has no mapping")
                continue
            for field, agg_type, param in used:
                field_type = mapping.type_of(field)
                if field_type is None:
                    problems.append(f"{where}: {agg_type}.{param} field {field!r} is not in {mapping.source}")
                    continue
                accepted = AGG_FIELD_TYPES.get(agg_type, AGGREGATABLE) if param == "field" else AGGREGATABLE
                if agg_type not in AGG_FIELD_TYPES:
                    problems.append(f"{where}: aggregation {agg_type!r} is not one this check knows")
                elif accepted is not None and field_type not in accepted:
                    problems.append(
                        f"{where}: {agg_type}.{param} cannot use {field!r}, a {field_type} field in {mapping.source}"
                    )
            for field in sorted(kql_fields(query)):
                if mapping.type_of(field) is None:
                    problems.append(f"{where}: query field {field!r} is not in {mapping.source}")
            for flt in search.get("filter", []):
                key = flt.get("meta", {}).get("key")
                if key and mapping.type_of(key) is None:
                    problems.append(f"{where}: filter field {key!r} is not in {mapping.source}")

        if obj.get("type") == "dashboard":
            panels = json.loads(attributes["panelsJSON"])
            seen_cells: dict[tuple[int, int], str] = {}
            for panel in panels:
                index, grid = panel["panelIndex"], panel["gridData"]
                name = f"{index}:{panel.get('panelRefName')}"
                if name not in refs:
                    problems.append(f"{where}: panel {index!r} has no reference named {name!r}")
                elif refs[name]["type"] != panel["type"]:
                    problems.append(
                        f"{where}: panel {index!r} is a {panel['type']} but refers to a {refs[name]['type']}"
                    )
                if grid["i"] != index or grid["x"] < 0 or grid["x"] + grid["w"] > 48:
                    problems.append(f"{where}: panel {index!r} has a bad grid position {grid}")
                for x in range(grid["x"], grid["x"] + grid["w"]):
                    for y in range(grid["y"], grid["y"] + grid["h"]):
                        if (x, y) in seen_cells:
                            problems.append(f"{where}: panels {seen_cells[(x, y)]!r} and {index!r} overlap")
                            break
                        seen_cells[(x, y)] = index
                    else:
                        continue
                    break
            panel_names = {f"{p['panelIndex']}:{p.get('panelRefName')}" for p in panels}
            for name in refs:
                if name not in panel_names:
                    problems.append(f"{where}: reference {name!r} belongs to no panel")
    return problems


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return load_objects()


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return load_mappings()


def visualisations(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["type"] == "visualization"]


def dashboard_visualisations(objects: list[dict], dashboard_id: str) -> list[tuple[dict, dict, str]]:
    """(visState, searchSource, data view id) of every panel of a dashboard."""
    by_id = {o["id"]: o for o in objects}
    board = by_id[dashboard_id]
    result = []
    for ref in board["references"]:
        vis = by_id[ref["id"]]
        search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        view = next((r["id"] for r in vis["references"] if r["name"] == search.get("indexRefName")), None)
        result.append((json.loads(vis["attributes"]["visState"]), search, view))
    return result


# --------------------------------------------------------------------------- tests


def test_the_saved_objects_are_well_formed_ndjson(objects):
    assert {o["type"] for o in objects} == {"index-pattern", "visualization", "dashboard"}
    for obj in objects:
        assert obj.get("id") and obj.get("attributes") and isinstance(obj.get("references"), list), obj["_where"]
        # Kibana migrates objects up from these versions on import (8.x export format).
        assert obj["coreMigrationVersion"].startswith("8."), obj["_where"]
        assert obj["typeMigrationVersion"].startswith(("7.", "8.")), obj["_where"]
        assert obj["id"].startswith("kafka-monitor-"), f"{obj['_where']}: ids share one prefix so they never collide"


def test_every_field_the_visualisations_use_is_mapped_and_every_reference_resolves(objects, mappings):
    problems = check_saved_objects(objects, mappings)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("view_id,setting", sorted(DATA_VIEWS.items()))
def test_data_views_read_the_configured_indices_and_their_templates_cover_them(objects, mappings, view_id, setting):
    view = next(o for o in objects if o["type"] == "index-pattern" and o["id"] == view_id)
    title = f"{store_prefixes()[setting]}-*"
    assert view["attributes"]["title"] == title
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    assert mappings[view_id].type_of("@timestamp") == "date"
    assert mappings[view_id].index_patterns == [title], f"{mappings[view_id].source} is bound to other indices"


def test_the_mirrormaker_lag_dashboard_shows_lag_per_topic_partitions_and_collection_status(objects):
    config = yaml.safe_load(CONFIG_FILE.read_text())
    # The CloudWatch dashboard's text widget links here.
    assert config["cloudwatch"]["kibana_url"].endswith(f"/view/{LAG_DASHBOARD}")
    panels = dashboard_visualisations(objects, LAG_DASHBOARD)
    assert len(panels) >= 5

    def fields(state: dict) -> set[str]:
        return {field for field, _, _ in field_uses(state)}

    over_time_per_topic = [
        s
        for s, q, v in panels
        if v == "kafka-monitor-lag" and {"@timestamp", "topic"} <= fields(s) and "total_lag" in fields(s)
    ]
    per_partition = [
        s
        for s, q, v in panels
        if v == "kafka-monitor-lag"
        and "partition" in fields(s)
        and "lag" in fields(s)
        and s["type"] in ("table", "heatmap")
    ]
    status_per_topic = [
        s
        for s, q, v in panels
        if v == "kafka-monitor-status"
        and {"topic", "status", "group_state"} <= fields(s)
        and 'source : "lag"' in q["query"]["query"]
    ]
    assert over_time_per_topic, "no chart of lag over time per topic"
    assert {s["type"] for s in per_partition} == {"table", "heatmap"}
    assert status_per_topic, "no table of the latest collection status and group state per topic"


def test_the_mirrormaker_lag_dashboard_shows_the_verdict_lag_seconds_and_eta_per_topic_over_time(objects):
    charts = {}
    for vis, search, view in dashboard_visualisations(objects, LAG_DASHBOARD):
        aggs = {a["schema"]: a for a in vis["aggs"]}
        over_time = aggs.get("segment", {}).get("type") == "date_histogram"
        per_topic = aggs.get("group", {}).get("params", {}).get("field") == "topic"
        summaries = 'doc_type : "topic_summary"' in search["query"]["query"]
        if over_time and per_topic and summaries and view == "kafka-monitor-lag":
            charts[aggs["metric"]["params"]["field"]] = vis["type"]
    # status_rank orders the statuses (evaluate.verdict.STATUSES), so the worst shows per cell.
    assert {"status_rank", "max_lag_seconds", "eta_seconds"} <= set(charts), charts


def test_the_data_flow_dashboard_follows_the_stages_in_order(objects):
    panels = dashboard_visualisations(objects, FLOW_DASHBOARD)
    jmx_panels = [(s, q) for s, q, v in panels if v == "kafka-monitor-jmx"]
    assert len(jmx_panels) >= 4
    by_stage = [
        s
        for s, q in jmx_panels
        if any(
            a["type"] == "terms"
            and a["params"]["field"] == "flow_stage"
            and a["params"]["orderBy"] == "_key"
            and a["params"]["order"] == "asc"
            for a in s["aggs"]
        )
    ]
    titles = " ".join(s["title"] for s in by_stage).lower()
    assert "throughput" in titles and "lag" in titles
    queries = " ".join(q["query"]["query"] for s, q in jmx_panels)
    # Logstash -> Kafka -> MirrorMaker -> Spark: every stage has its throughput metric.
    for component in (
        'component : "logstash"',
        'component : "kafka_broker"',
        'component : "mirrormaker"',
        'flow_stage : "4-processing"',
    ):
        assert component in queries


def test_the_data_flow_dashboard_keys_spark_on_the_name_that_survives_a_restart(objects, mappings):
    panels = dashboard_visualisations(objects, FLOW_DASHBOARD)
    jmx_panels = [(s, q) for s, q, v in panels if v == "kafka-monitor-jmx"]
    spark_series = [s for s, q in jmx_panels if any(f == "spark.metric" for f, _, _ in field_uses(s))]
    assert spark_series, "no Data flow chart splits Spark's metrics by spark.metric"
    assert mappings["kafka-monitor-jmx"].type_of("spark.metric") == "keyword"
    queries = " ".join(q["query"]["query"] for s, q in jmx_panels)
    # The application id is in mbean.name: no panel may key Spark on it.
    assert "spark.metric : *inputRate-total" in queries and "mbean.name : *inputRate-total" not in queries


# --------------------------------------------------------------------------- the checker itself


def _vis(objects: list[dict], vis_id: str) -> tuple[dict, dict]:
    vis = next(o for o in objects if o["id"] == vis_id)
    return vis, json.loads(vis["attributes"]["visState"])


def _set_state(vis: dict, state: dict) -> None:
    vis["attributes"]["visState"] = json.dumps(state)


def test_the_checker_reports_a_field_missing_from_the_mapping(objects, mappings):
    broken = copy.deepcopy(objects)
    vis, state = _vis(broken, "kafka-monitor-lag-total-by-topic")
    state["aggs"][0]["params"]["field"] = "totl_lag"
    _set_state(vis, state)
    problems = check_saved_objects(broken, mappings)
    assert problems == [
        f"{vis['_where']} (visualization 'kafka-monitor-lag-total-by-topic'): "
        "max.field field 'totl_lag' is not in mapping.json"
    ]


def test_the_checker_reports_a_field_of_the_wrong_type(objects, mappings):
    broken = copy.deepcopy(objects)
    vis, state = _vis(broken, "kafka-monitor-lag-collection-status")
    terms = next(a for a in state["aggs"] if a["type"] == "terms")
    terms["params"]["field"] = "error_message"  # text: not aggregatable
    _set_state(vis, state)
    problems = check_saved_objects(broken, mappings)
    assert len(problems) == 1 and "terms.field cannot use 'error_message', a text field" in problems[0]


def test_the_checker_reports_an_unknown_query_field_and_dangling_references(objects, mappings):
    broken = copy.deepcopy(objects)
    vis, _ = _vis(broken, "kafka-monitor-flow-heap")
    search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    search["query"]["query"] = 'metric : "HeapMemoryUsage.used" and mbean_type : "Memory"'
    vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"] = json.dumps(search)
    board = next(o for o in broken if o["id"] == LAG_DASHBOARD)
    board["references"][0]["id"] = "kafka-monitor-no-such-visualisation"
    problems = check_saved_objects(broken, mappings)
    assert any("query field 'mbean_type' is not in jmx_mapping.json" in p for p in problems), problems
    assert any("-> visualization 'kafka-monitor-no-such-visualisation' is not in the import" in p for p in problems)
    assert len(problems) == 2, problems


def test_the_checker_knows_the_field_families_of_dynamic_templates(mappings):
    jmx, lag, status = mappings["kafka-monitor-jmx"], mappings["kafka-monitor-lag"], mappings["kafka-monitor-status"]
    assert jmx.type_of("mbean.client-id") == "keyword"  # path_match mbean.*
    assert lag.type_of("p17") == "long"  # the old tool's p0..pN, regex ^p\d+$
    assert lag.type_of("px") is None and lag.type_of("not_a_field") is None  # catch-all string template proves nothing
    assert status.type_of("error_message") == "text" and status.type_of("error_message.keyword") == "keyword"


def test_kql_field_extraction_ignores_quoted_values():
    query = 'component : "kafka_broker" and mbean.name : ("a:b" or "c") and not mbean.topic : * and x:1'
    assert kql_fields(query) == {"component", "mbean.name", "mbean.topic", "x"}
