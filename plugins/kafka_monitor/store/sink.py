"""Bulk indexing into Elasticsearch or OpenSearch, index templates, retention.

One ``SearchSink`` serves both stores; a thin adapter hides the differing call names of the
two clients (``elasticsearch`` 9: ``bulk(operations=...)``, ``opensearch-py``:
``bulk(body=...)``). The sink builds the NDJSON body itself, so both clients send exactly the
same bytes.

Faults, and what the sink does about them:

- a whole request answered 429 or 5xx, or a connection error / timeout: retried with
  exponential backoff and jitter (``initial_backoff_s`` doubling up to ``max_backoff_s``, at
  most ``max_retries`` times), then ``StoreError`` naming the store and the cause;
- some items of a bulk reply rejected with 429 or 5xx: only those items are sent again, with
  the same backoff, at most ``max_retries`` times;
- items rejected for any other reason (a mapping conflict, ...): counted, never retried, and
  after every document was tried ``BulkIndexError`` carries the ``BulkReport`` with the first
  reasons. ``BulkReport.indexed`` only counts documents the store confirmed.

The clients' own retries are switched off (``max_retries=0``) so that every retry is counted
and backed off here. Ids are deterministic (see ``documents``) and every action is ``index``,
so a retried request or task overwrites instead of duplicating.

Which store: ``StoreSettings.kind``. ``elasticsearch`` takes its client from the
elasticsearch provider (see ``kafka_monitor.store.clients``: host, port, schema http/https,
login/password as basic auth, every extra passed to the client as a keyword argument, e.g.
``{"api_key": "...", "ca_certs": "..."}``). The provider installs
the 9.x client; against an Elasticsearch 8.x server set ``AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH=8``
(``[elasticsearch] es_compat_with = 8``), which makes the provider send
``compatible-with=8`` media types (an 8.x server answers 400 ``media_type_header_exception`` to
``compatible-with=9``). ``opensearch`` (Amazon OpenSearch Service, self-managed OpenSearch)
takes the opensearch provider's client (``kafka_monitor.store.clients``): host, port, login/password as basic
auth (fine-grained access control's internal users), extras ``use_ssl``, ``verify_certs``.

Retention: indices are daily, ``<prefix>-YYYY.MM.DD``; ``delete_expired`` deletes those of the
lag, status and jmx prefixes whose day ended more than ``retention_days`` ago. A name that
does not match that form exactly is never touched.

Ownership is by marker, never by name: our templates carry ``_meta.managed_by:
kafka-monitor`` and put the same ``_meta`` in the mappings of every index they create.
Retention deletes only indices whose mapping carries it (read back per index); ``ensure_templates``
refuses (``StoreNotOwnedError``) to overwrite a template of the same name without the marker,
to install one over a foreign template whose patterns cover our daily indices, or to create
one while indices of that prefix exist without the marker (e.g. ``lag_index: logstash``).
Indices created before the marker existed can be adopted with
``PUT <prefix>-*/_mapping {"_meta": {"managed_by": "kafka-monitor"}}``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kafka_monitor.config.schema import StoreSettings
from kafka_monitor.config.validators import check_distinct_index_prefixes
from kafka_monitor.errors import ConfigError, KafkaMonitorError
from kafka_monitor.paths import include_path
from kafka_monitor.retry_policy import INDEX_REJECTED, STORE_NOT_OWNED, STORE_THROTTLED, STORE_UNAVAILABLE
from kafka_monitor.store.documents import Doc

log = logging.getLogger(__name__)

# (settings field, template file): the index prefixes the project owns.
TEMPLATE_FILES = (
    ("lag_index", "mapping.json"),
    ("status_index", "status_mapping.json"),
    ("jmx_index", "jmx_mapping.json"),
    ("incident_index", "incident_mapping.json"),
)
DEFAULT_TEMPLATE_PRIORITY = 200
# Amazon OpenSearch Service's smallest instance types accept 10 MiB request bodies.
MAX_BULK_BYTES = 5 * 1024 * 1024
MAX_FIRST_ERRORS = 5
MAX_SEARCH_SIZE = 10_000  # the stores' default index.max_result_window
MAX_REASON_CHARS = 300
_DAILY_SUFFIX = r"-(\d{4})\.(\d{2})\.(\d{2})"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
# The marker of what kafka-monitor owns: in our templates' _meta and our indices' mapping _meta.
MANAGED_BY_KEY = "managed_by"
MANAGED_BY = "kafka-monitor"
MARKER_BATCH = 50  # index names per mapping read (keeps the URL short)


# --------------------------------------------------------------------------- results and errors


@dataclass
class BulkReport:
    indexed: int = 0  # documents the store confirmed (created or updated)
    failed: int = 0  # documents finally rejected (or not serialisable)
    retried: int = 0  # request retries (1 each) plus item retries (1 per document sent again)
    first_errors: list[str] = field(default_factory=list)  # "<index>/<id>: <type>: <reason>"
    requests: int = 0  # bulk requests sent, retries included
    failed_transient: int = 0  # of ``failed``: still 429/5xx when the item retries ran out
    confirmed_ids: set[str] = field(default_factory=set, repr=False)  # ids the store confirmed

    @property
    def only_transient_failures(self) -> bool:
        """Every rejection was a 429/5xx (a retry of the task may succeed)."""
        return self.failed > 0 and self.failed == self.failed_transient

    def note(self, message: str) -> None:
        if len(self.first_errors) < MAX_FIRST_ERRORS:
            self.first_errors.append(message)


class StoreError(KafkaMonitorError):
    """The store is unreachable or refused a whole request (after the retries); names both."""

    def __init__(self, message: str, report: BulkReport | None = None):
        super().__init__(message)
        self.report = report  # what was confirmed before the failure, when indexing


class StoreNotOwnedError(StoreError):
    """A template or index with our prefix belongs to someone else: nothing was written."""


class BulkIndexError(KafkaMonitorError):
    """Some documents were rejected; ``report`` says how many and why (the others are indexed)."""

    def __init__(self, message: str, report: BulkReport):
        super().__init__(message)
        self.report = report


def store_error_kind(exc: Exception) -> str:
    """The error kind (``kafka_monitor.retry_policy``) of a sink failure."""
    if isinstance(exc, StoreNotOwnedError):
        return STORE_NOT_OWNED
    if isinstance(exc, BulkIndexError):
        return STORE_THROTTLED if exc.report.only_transient_failures else INDEX_REJECTED
    return STORE_UNAVAILABLE


def scrub(text: str) -> str:
    """Drop any ``user:password@`` from URLs in a message (credentials never leave the sink)."""
    return _USERINFO.sub(r"\1***@", text)


def _documents(n: int) -> str:
    return f"{n} document" if n == 1 else f"{n} documents"


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, with "equal jitter"
    (half fixed, half random) so parallel tasks do not retry in step."""
    ceiling = min(cap, initial * (2 ** (attempt - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


# --------------------------------------------------------------------------- templates


def load_template(filename: str, prefix: str) -> dict[str, Any]:
    """A composable index template from include/, bound to ``<prefix>-*``."""
    path = include_path(filename)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read index template {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"index template {path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"index template {path}: the top level must be an object")
    patterns = data.get("index_patterns")
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"index template {path}: index_patterns must be a non-empty list of strings")
    template = data.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("mappings"), dict):
        raise ConfigError(f"index template {path}: template.mappings must be an object")
    if not isinstance(template.get("settings", {}), dict):
        raise ConfigError(f"index template {path}: template.settings must be an object")
    for key in ("version", "priority"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 0):
            raise ConfigError(f"index template {path}: {key} must be a non-negative integer")
    body = copy.deepcopy(data)
    body["index_patterns"] = [f"{prefix}-*"]
    # The ownership marker, on the template and on every index it creates (see the module doc).
    body["_meta"] = {**(body.get("_meta") or {}), MANAGED_BY_KEY: MANAGED_BY}
    mappings = body["template"]["mappings"]
    mappings["_meta"] = {**(mappings.get("_meta") or {}), MANAGED_BY_KEY: MANAGED_BY}
    # Prefixes may nest ("kafka-" and "kafka-jmx-"); overlapping templates need distinct
    # priorities, and the more specific (longer) prefix must win.
    body["priority"] = data.get("priority", DEFAULT_TEMPLATE_PRIORITY) + len(prefix)
    return body


def template_name(prefix: str) -> str:
    return f"{prefix}-template"


def is_marked(meta: Any) -> bool:
    """Whether a ``_meta`` object carries kafka-monitor's ownership marker."""
    return isinstance(meta, dict) and meta.get(MANAGED_BY_KEY) == MANAGED_BY


def _sample_daily_index(prefix: str) -> str:
    return f"{prefix}-2000.01.01"


def covers_our_indices(patterns: Any, prefix: str) -> list[str]:
    """Those of a (foreign) template's ``patterns`` that match our daily index names, catch-alls
    (``*``, ``*-*``: no literal start) excepted, since a more specific template wins over them."""
    sample = _sample_daily_index(prefix)
    found = []
    for pattern in patterns if isinstance(patterns, list) else []:
        if isinstance(pattern, str) and not pattern.startswith("*") and fnmatch.fnmatchcase(sample, pattern):
            found.append(pattern)
    return found


# --------------------------------------------------------------------------- client adapters


@dataclass
class _Failure:
    """A failed request, as far as retrying is concerned."""

    status: int | None  # HTTP status; None when no reply came (connection error, timeout)
    retryable: bool
    cause: str
    retry_after_s: float | None = None


def _is_retryable_status(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


class _ElasticsearchApi:
    kind = "elasticsearch"

    def __init__(self, client, timeout_s: float):
        import elastic_transport
        import elasticsearch

        self._errors = (elasticsearch, elastic_transport)
        # options() returns a client on the same transport (the provider's es_compat_with
        # wrapper included) with the client's own retries off: the sink does them.
        self.client = client.options(
            max_retries=0, retry_on_status=(), retry_on_timeout=False, request_timeout=timeout_s
        )
        self.hosts = [str(node.base_url) for node in client.transport.node_pool.all()]

    def bulk(self, body: bytes, refresh: bool) -> dict:
        return self.client.bulk(operations=body, refresh="true" if refresh else None).body

    def get_template(self, name: str) -> dict | None:
        try:
            reply = self.client.indices.get_index_template(name=name).body
        except self._errors[0].NotFoundError:
            return None
        return _template_from_reply(reply, name)

    def all_templates(self) -> dict[str, dict]:
        try:
            reply = self.client.indices.get_index_template().body
        except self._errors[0].NotFoundError:
            return {}
        return _templates_from_reply(reply)

    def mapping_metas(self, names: Sequence[str]) -> dict[str, Any]:
        reply = self.client.indices.get_mapping(
            index=",".join(names), filter_path="*.mappings._meta", ignore_unavailable=True
        ).body
        return _metas_from_reply(reply)

    def put_template(self, name: str, body: dict) -> None:
        kwargs = {k: v for k, v in body.items() if k != "_meta"}
        if "_meta" in body:
            kwargs["meta"] = body["_meta"]
        self.client.indices.put_index_template(name=name, **kwargs)

    def index_names(self, pattern: str) -> list[str]:
        rows = self.client.cat.indices(index=pattern, format="json", h="index", expand_wildcards="open,closed").body
        return [row["index"] for row in rows]

    def delete_index(self, name: str) -> bool:
        try:
            self.client.indices.delete(index=name)
        except self._errors[0].NotFoundError:
            return False
        return True

    def search(self, index: str, body: dict) -> dict:
        return self.client.search(index=index, body=body, ignore_unavailable=True, allow_no_indices=True).body

    def failure(self, exc: Exception) -> _Failure | None:
        es, et = self._errors
        if isinstance(exc, es.ApiError):
            status = exc.meta.status
            retry_after = _retry_after(exc.meta.headers.get("retry-after") if exc.meta.headers else None)
            return _Failure(
                status, _is_retryable_status(status), f"HTTP {status}: {_describe_api_error(exc)}", retry_after
            )
        if isinstance(exc, et.TlsError):
            return _Failure(None, False, f"TLS error: {exc.message}")
        if isinstance(exc, et.ConnectionTimeout):
            return _Failure(None, True, "request timed out")
        if isinstance(exc, et.ConnectionError):
            return _Failure(None, True, f"cannot connect: {exc.message}")
        if isinstance(exc, et.SerializationError):
            return _Failure(None, False, f"unreadable reply: {exc.message}")
        if isinstance(exc, et.TransportError):
            return _Failure(None, False, f"{type(exc).__name__}: {exc.message}")
        return None


class _OpenSearchApi:
    kind = "opensearch"

    def __init__(self, client, timeout_s: float):
        import opensearchpy

        self._errors = opensearchpy.exceptions
        self.client = client
        # opensearch-py has no per-call options(): switch its transport's retries off.
        client.transport.max_retries = 0
        client.transport.retry_on_status = ()
        client.transport.retry_on_timeout = False
        self.timeout_s = timeout_s
        self.hosts = [_host_label(h) for h in client.transport.hosts or []]

    def bulk(self, body: bytes, refresh: bool) -> dict:
        params = {"refresh": "true"} if refresh else {}
        return self.client.bulk(body=body, params=params, request_timeout=self.timeout_s)

    def get_template(self, name: str) -> dict | None:
        try:
            reply = self.client.indices.get_index_template(name=name, request_timeout=self.timeout_s)
        except self._errors.NotFoundError:
            return None
        return _template_from_reply(reply, name)

    def all_templates(self) -> dict[str, dict]:
        try:
            reply = self.client.indices.get_index_template(request_timeout=self.timeout_s)
        except self._errors.NotFoundError:
            return {}
        return _templates_from_reply(reply)

    def mapping_metas(self, names: Sequence[str]) -> dict[str, Any]:
        reply = self.client.indices.get_mapping(
            index=",".join(names),
            params={"filter_path": "*.mappings._meta", "ignore_unavailable": "true"},
            request_timeout=self.timeout_s,
        )
        return _metas_from_reply(reply)

    def put_template(self, name: str, body: dict) -> None:
        self.client.indices.put_index_template(name=name, body=body, request_timeout=self.timeout_s)

    def index_names(self, pattern: str) -> list[str]:
        rows = self.client.cat.indices(
            index=pattern, format="json", h="index", expand_wildcards="open,closed", request_timeout=self.timeout_s
        )
        return [row["index"] for row in rows]

    def delete_index(self, name: str) -> bool:
        try:
            self.client.indices.delete(index=name, request_timeout=self.timeout_s)
        except self._errors.NotFoundError:
            return False
        return True

    def search(self, index: str, body: dict) -> dict:
        params = {"ignore_unavailable": "true", "allow_no_indices": "true"}
        return self.client.search(index=index, body=body, params=params, request_timeout=self.timeout_s)

    def failure(self, exc: Exception) -> _Failure | None:
        errors = self._errors
        if isinstance(exc, errors.SSLError):
            return _Failure(None, False, f"TLS error: {exc.error}")
        if isinstance(exc, errors.ConnectionTimeout):
            return _Failure(None, True, "request timed out")
        if isinstance(exc, errors.ConnectionError):
            return _Failure(None, True, f"cannot connect: {exc.error}")
        if isinstance(exc, errors.TransportError):
            status = exc.status_code if isinstance(exc.status_code, int) else None
            return _Failure(
                status,
                status is not None and _is_retryable_status(status),
                f"HTTP {exc.status_code}: {_describe_os_error(exc)}",
            )
        if isinstance(exc, errors.SerializationError):
            return _Failure(None, False, f"unreadable reply: {exc}")
        return None


def _template_from_reply(reply: Any, name: str) -> dict | None:
    for entry in (reply or {}).get("index_templates", []):
        if entry.get("name") == name:
            return entry.get("index_template") or {}
    return None


def _templates_from_reply(reply: Any) -> dict[str, dict]:
    return {
        entry["name"]: entry.get("index_template") or {}
        for entry in (reply or {}).get("index_templates", [])
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    }


def _metas_from_reply(reply: Any) -> dict[str, Any]:
    """{index: its mapping's _meta} from a filtered get-mapping reply (indices without one drop out)."""
    if not isinstance(reply, dict):
        return {}
    return {name: (body.get("mappings") or {}).get("_meta") for name, body in reply.items() if isinstance(body, dict)}


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignored, the backoff applies


def _describe_api_error(exc) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"{err.get('type')}: {err.get('reason')}"
    return str(exc.message if body is None else body)[:MAX_REASON_CHARS]


def _describe_os_error(exc) -> str:
    info = exc.info
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        err = info["error"]
        return f"{err.get('type')}: {err.get('reason')}"
    return str(exc.error if info is None else info)[:MAX_REASON_CHARS]


def _host_label(host: Any) -> str:
    if isinstance(host, dict):
        return f"{host.get('scheme', 'http')}://{host.get('host')}:{host.get('port')}"
    return str(host)


def _adapter(client, timeout_s: float):
    module = type(client).__module__.split(".", 1)[0]
    if module == "elasticsearch":
        return _ElasticsearchApi(client, timeout_s)
    if module == "opensearchpy":
        return _OpenSearchApi(client, timeout_s)
    raise TypeError(
        f"SearchSink needs an elasticsearch.Elasticsearch or opensearchpy.OpenSearch client, "
        f"not {type(client).__name__}"
    )


# --------------------------------------------------------------------------- the sink


@dataclass
class _Item:
    doc: Doc
    lines: bytes  # action line + source line, NDJSON


class SearchSink:
    """Bulk writes, templates and retention for one store (``StoreSettings``)."""

    def __init__(
        self,
        client,
        settings: StoreSettings,
        *,
        conn_id: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        prefixes = {name: getattr(settings, name) for name, _ in TEMPLATE_FILES}
        try:  # checked on load too; again here for settings built without validation
            check_distinct_index_prefixes(prefixes)
        except ValueError as exc:
            raise ConfigError(f"store: {exc}, not {list(prefixes.values())}") from None
        self.settings = settings
        self._api = _adapter(client, settings.request_timeout_s)
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._templates_ready = False
        hosts = scrub(", ".join(self._api.hosts)) or "?"
        connection = f"connection {conn_id!r}, " if conn_id else ""
        self.store_name = f"{self._api.kind} store ({connection}{hosts})"

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> SearchSink:
        """A sink on a client built by the Airflow provider from connection ``settings.conn_id``."""
        from airflow.exceptions import AirflowNotFoundException

        from kafka_monitor.store.clients import ProviderChanged, elasticsearch_client, opensearch_client

        client: Any
        try:
            if settings.kind == "elasticsearch":
                client = elasticsearch_client(settings.conn_id)
            else:
                client = opensearch_client(settings.conn_id)
        except ProviderChanged:
            raise
        except AirflowNotFoundException:
            raise ConfigError(f"store.conn_id: Airflow connection {settings.conn_id!r} is not defined") from None
        except Exception as exc:  # noqa: BLE001 - any client-construction failure, credentials scrubbed
            raise ConfigError(
                f"store.conn_id: connection {settings.conn_id!r} does not give a usable "
                f"{settings.kind} client: {type(exc).__name__}: {scrub(str(exc))}"
            ) from None
        return cls(client, settings, conn_id=settings.conn_id)

    # -- requests with retries
    def _call(self, what: str, fn: Callable[[], Any], report: BulkReport | None = None) -> Any:
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below; anything else propagates
                failure = self._api.failure(exc)
                if failure is None:
                    raise
            if not failure.retryable or attempt >= self.settings.max_retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                done = ""
                if report is not None:
                    done = f"; {_documents(report.indexed)} confirmed before the failure"
                raise StoreError(
                    f"{self.store_name}: {what} failed{tries}: {scrub(failure.cause)}{done}", report
                ) from None
            attempt += 1
            if report is not None:
                report.retried += 1
            delay = self._backoff(attempt, failure.retry_after_s)
            log.warning(
                "%s: %s failed (%s); retry %d of %d in %.2f s",
                self.store_name,
                what,
                scrub(failure.cause),
                attempt,
                self.settings.max_retries,
                delay,
            )
            self._sleep(delay)

    def _backoff(self, attempt: int, retry_after_s: float | None = None) -> float:
        delay = backoff_delay(attempt, self.settings.initial_backoff_s, self.settings.max_backoff_s, self._rng)
        if retry_after_s is not None:  # the server's own hint, within our cap
            delay = max(delay, min(retry_after_s, self.settings.max_backoff_s))
        return delay

    # -- templates
    def ensure_templates(self) -> None:
        """Create (or upgrade, when include/ has a newer ``version`` or the installed one lacks
        the index marker) the three index templates, never touching what is not ours.

        One read of the store's templates; nothing more when they are current. Once per sink
        instance. Raises ``StoreNotOwnedError`` naming the foreign template or indices.
        """
        if self._templates_ready:
            return
        installed = self._call("reading the index templates", self._api.all_templates)
        for field_name, filename in TEMPLATE_FILES:
            prefix = getattr(self.settings, field_name)
            body = load_template(filename, prefix)
            name = template_name(prefix)
            self._refuse_foreign(field_name, prefix, name, installed)
            existing = installed.get(name)
            wanted = body.get("version")
            if existing is not None and self._is_current(existing, wanted):
                continue
            if existing is None:
                self._refuse_unmarked_indices(field_name, prefix)
            log.info(
                "%s: %s index template %r for %s-*",
                self.store_name,
                "creating" if existing is None else "upgrading",
                name,
                prefix,
            )
            self._call(f"writing index template {name!r}", lambda: self._api.put_template(name, body))
        self._templates_ready = True

    @staticmethod
    def _is_current(existing: dict, wanted: int | None) -> bool:
        marked = is_marked(((existing.get("template") or {}).get("mappings") or {}).get("_meta"))
        return marked and (wanted is None or (existing.get("version") or 0) >= wanted)

    def _refuse_foreign(self, field_name: str, prefix: str, name: str, installed: dict[str, dict]) -> None:
        ours = installed.get(name)
        if ours is not None and not is_marked(ours.get("_meta")):
            raise StoreNotOwnedError(
                f"{self.store_name}: index template {name!r} exists but was not installed by kafka-monitor "
                f"(no _meta.{MANAGED_BY_KEY}: {MANAGED_BY}); refusing to overwrite it. Choose another "
                f"store.{field_name} than {prefix!r}, or delete that template if it is a leftover"
            )
        for other, template in sorted(installed.items()):
            if other == name or is_marked(template.get("_meta")):
                continue
            covering = covers_our_indices(template.get("index_patterns"), prefix)
            if covering:
                raise StoreNotOwnedError(
                    f"{self.store_name}: index template {other!r} (patterns {', '.join(covering)}) is not "
                    f"kafka-monitor's and covers the indices of store.{field_name} {prefix!r}: installing "
                    f"ours would change how its indices are mapped. Choose another store.{field_name}"
                )

    def _refuse_unmarked_indices(self, field_name: str, prefix: str) -> None:
        names = self._call(f"listing indices {prefix}-*", lambda: self._api.index_names(f"{prefix}-*"))
        pattern = re.compile(re.escape(prefix) + _DAILY_SUFFIX)
        daily = sorted(n for n in names if pattern.fullmatch(n))
        if not daily:
            return
        marks = self._markers(daily)
        foreign = [n for n in daily if not marks.get(n)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise StoreNotOwnedError(
                f"{self.store_name}: indices {shown} have the daily names of store.{field_name} {prefix!r} "
                f"but no _meta.{MANAGED_BY_KEY}: {MANAGED_BY} in their mappings; refusing to install a "
                f"template that would change how such indices are mapped. Choose another store.{field_name}, "
                f"or, if they are kafka-monitor's from before the marker, adopt them with "
                f'PUT {prefix}-*/_mapping {{"_meta": {{"{MANAGED_BY_KEY}": "{MANAGED_BY}"}}}}'
            )

    def _markers(self, names: Sequence[str]) -> dict[str, bool]:
        """{index: carries our marker}, read back from the store (one request per batch)."""
        marks: dict[str, bool] = {}
        for start in range(0, len(names), MARKER_BATCH):
            batch = list(names[start : start + MARKER_BATCH])
            metas = self._call(f"reading the mappings of {len(batch)} indices", lambda: self._api.mapping_metas(batch))
            for name in batch:
                marks[name] = is_marked(metas.get(name))
        return marks

    # -- indexing
    def index(self, docs: Sequence[Doc], *, refresh: bool = False) -> BulkReport:
        """Bulk-index ``docs`` (``index`` actions: a repeated id overwrites), in chunks of
        ``chunk_size`` documents (and at most ``MAX_BULK_BYTES``). Templates are ensured first
        (once per sink).

        Returns the report when every document was confirmed; raises ``BulkIndexError`` (with
        the report) when some were rejected, ``StoreError`` when the store failed.
        """
        report = BulkReport()
        if not docs:
            return report
        self.ensure_templates()
        items: list[_Item] = []
        for doc in docs:
            try:
                source = json.dumps(doc.source, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                report.failed += 1
                report.note(f"{doc.index}/{doc.id}: serialization_error: {exc}")
                continue
            action = json.dumps({"index": {"_index": doc.index, "_id": doc.id}}, separators=(",", ":"))
            items.append(_Item(doc, f"{action}\n{source}\n".encode()))
        for chunk in self._chunks(items):
            self._send(chunk, refresh, report)
        if report.failed:
            raise BulkIndexError(
                f"{self.store_name}: {report.failed} of {_documents(len(docs))} rejected "
                f"({report.indexed} indexed); first reasons: {'; '.join(report.first_errors)}",
                report,
            )
        return report

    def _chunks(self, items: list[_Item]):
        chunk: list[_Item] = []
        size = 0
        for item in items:
            if chunk and (len(chunk) >= self.settings.chunk_size or size + len(item.lines) > MAX_BULK_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += len(item.lines)
        if chunk:
            yield chunk

    def _send(self, chunk: list[_Item], refresh: bool, report: BulkReport) -> None:
        pending = chunk
        item_retries = 0
        while True:
            body = b"".join(item.lines for item in pending)

            def request() -> dict:
                report.requests += 1
                return self._api.bulk(body, refresh)

            reply = self._call(f"bulk request ({_documents(len(pending))})", request, report)
            results = reply.get("items") if isinstance(reply, dict) else None
            if not isinstance(results, list) or len(results) != len(pending):
                got = len(results) if isinstance(results, list) else "no"
                raise StoreError(
                    f"{self.store_name}: bulk reply has {got} items for {_documents(len(pending))}; "
                    f"{_documents(report.indexed)} confirmed before it",
                    report,
                )
            again: list[tuple[_Item, str]] = []
            for item, result in zip(pending, results):
                status, reason = self._item_outcome(item, result, report)
                if status is not None and 200 <= status < 300:
                    report.indexed += 1
                    report.confirmed_ids.add(item.doc.id)
                elif status is not None and _is_retryable_status(status):
                    again.append((item, reason))
                else:
                    report.failed += 1
                    report.note(reason)
            if not again:
                return
            if item_retries >= self.settings.max_retries:
                for _, reason in again:
                    report.failed += 1
                    report.failed_transient += 1
                    report.note(f"{reason} (after {item_retries} retries)")
                return
            item_retries += 1
            report.retried += len(again)
            delay = self._backoff(item_retries)
            log.warning(
                "%s: %d of %d documents rejected with 429/5xx (%s); retry %d of %d in %.2f s",
                self.store_name,
                len(again),
                len(pending),
                again[0][1],
                item_retries,
                self.settings.max_retries,
                delay,
            )
            self._sleep(delay)
            pending = [item for item, _ in again]

    def _item_outcome(self, item: _Item, result: Any, report: BulkReport) -> tuple[int | None, str]:
        where = f"{item.doc.index}/{item.doc.id}"
        body = next(iter(result.values()), None) if isinstance(result, dict) and len(result) == 1 else None
        if not isinstance(body, dict):
            return None, f"{where}: bad_reply: unreadable bulk reply item {str(result)[:MAX_REASON_CHARS]}"
        if body.get("_id") not in (None, item.doc.id):
            raise StoreError(
                f"{self.store_name}: bulk reply item for id {body.get('_id')!r} does not match "
                f"document {where} (the reply is out of order)"
            )
        status = body.get("status")
        if not isinstance(status, int):
            return None, f"{where}: bad_reply: bulk reply item has no status"
        error = body.get("error")
        if isinstance(error, dict):
            reason = f"{where}: {error.get('type')}: {str(error.get('reason'))[:MAX_REASON_CHARS]}"
        elif error:
            reason = f"{where}: error: {str(error)[:MAX_REASON_CHARS]}"
        else:
            reason = f"{where}: status {status}"
        return status, scrub(reason)

    # -- reading back
    def search(self, index_pattern: str, query: dict[str, Any], *, size: int, sort: Sequence[dict] = ()) -> list[dict]:
        """The ``_source`` of at most ``size`` documents matching ``query`` in ``index_pattern``
        (missing indices are no error: a day with no documents yet). Retried like writes;
        ``StoreError`` when the store fails. ``size`` is the caller's budget: a reply that would
        hold more is cut at ``size`` by the store, and the caller's query must be bounded."""
        if size < 1 or size > MAX_SEARCH_SIZE:
            raise ValueError(f"search size must be 1..{MAX_SEARCH_SIZE}, not {size}")
        body: dict[str, Any] = {"query": query, "size": size, "track_total_hits": False}
        if sort:
            body["sort"] = list(sort)
        reply = self._call(f"search in {index_pattern!r}", lambda: self._api.search(index_pattern, body))
        hits = (reply.get("hits") or {}).get("hits") if isinstance(reply, dict) else None
        if not isinstance(hits, list):
            raise StoreError(f"{self.store_name}: search in {index_pattern!r} gave an unreadable reply")
        return [hit.get("_source") or {} for hit in hits]

    # -- retention
    def delete_expired(self, now: datetime) -> list[str]:
        """Delete the daily indices of the three prefixes older than ``retention_days`` that
        carry kafka-monitor's marker.

        An index for day D is deleted once D ended ``retention_days`` or more ago, i.e. when
        D < (now - retention_days).date(). Only names ``<prefix>-YYYY.MM.DD`` with a real
        date are considered, and of those only indices whose mapping ``_meta`` says
        ``managed_by: kafka-monitor`` (read back per index just before): anything else is left
        alone and logged. Returns the deleted names, sorted.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        cutoff: date = (now.astimezone(UTC) - timedelta(days=self.settings.retention_days)).date()
        deleted: list[str] = []
        foreign: list[str] = []
        for field_name, _ in TEMPLATE_FILES:
            prefix = getattr(self.settings, field_name)
            pattern = re.compile(re.escape(prefix) + _DAILY_SUFFIX)
            names = self._call(f"listing indices {prefix}-*", lambda: self._api.index_names(f"{prefix}-*"))
            expired: list[str] = []
            for name in sorted(names):
                match = pattern.fullmatch(name)
                if not match:
                    continue
                try:
                    day = date(*(int(part) for part in match.groups()))
                except ValueError:
                    continue  # e.g. 2026.13.45: not one of ours
                if day < cutoff:
                    expired.append(name)
            if not expired:
                continue
            marks = self._markers(expired)
            for name in expired:
                if not marks[name]:
                    foreign.append(name)
                    continue
                if self._call(f"deleting index {name!r}", lambda: self._api.delete_index(name)):
                    deleted.append(name)
        if foreign:
            log.warning(
                "%s: retention left %d expired indices alone: they do not carry _meta.%s: %s in their "
                "mappings (not written by kafka-monitor, or from before the marker): %s",
                self.store_name,
                len(foreign),
                MANAGED_BY_KEY,
                MANAGED_BY,
                ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else ""),
            )
        if deleted:
            log.info("%s: retention %d days: deleted %s", self.store_name, self.settings.retention_days, deleted)
        return sorted(deleted)
