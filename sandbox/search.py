"""A search store: osmem-server (an in-memory OpenSearch-compatible server; the binary ships
in the ``osmem_server`` wheel), answering both the OpenSearch and the Elasticsearch client.

Known quirks, handled here rather than in every caller:
- started with ``--no-stdin-watch`` (our stdin is /dev/null) and ``--parent-pid`` so it also
  dies with the test process if that is killed;
- it answers 406 to the Elasticsearch 9 client's ``application/vnd.elasticsearch+json;
  compatible-with=9`` media types, so that client talks to it through ``PlainJsonNode``, a
  TEST-ONLY transport node that sends plain ``application/json`` / ``application/x-ndjson``.
  ``PlainJsonNode`` is registered under ``PLAIN_JSON_NODE`` in elastic_transport's node-class
  registry when this module is imported, so an Airflow connection can name it in its extras
  (the elasticsearch provider passes extras to the client as keyword arguments); for Airflow
  *subprocesses* (``airflow dags test``) ``subprocess_env("elasticsearch")`` adds a
  sitecustomize that does the same registration there. A real
  Elasticsearch never needs it; a 9.x client talking to an 8.x server needs
  ``[elasticsearch] es_compat_with = 8`` instead.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal

from elastic_transport import Urllib3HttpNode
from elastic_transport._transport import NODE_CLASS_NAMES
from elastic_transport.client_utils import DEFAULT

from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until

PLAIN_JSON_NODE = "kafka-monitor-plain-json"
ADMIN_TIMEOUT_S = 10.0


def osmem_binary() -> str:
    from osmem_server import resolve_binary

    return resolve_binary()


# --------------------------------------------------------------------------- ES client node


def _plain_media_type(value: str) -> str:
    # "application/vnd.elasticsearch+x-ndjson; compatible-with=9" -> "application/x-ndjson"
    parts = [p.strip() for p in value.split(",")]
    out = []
    for part in parts:
        media = part.split(";", 1)[0].strip()
        if media.startswith("application/vnd.elasticsearch+"):
            part = "application/" + media[len("application/vnd.elasticsearch+") :]
        out.append(part)
    return ", ".join(out)


class PlainJsonNode(Urllib3HttpNode):
    """TEST-ONLY: the ES client's urllib3 node, sending plain JSON media types (osmem needs them)."""

    def perform_request(self, method, target, body=None, headers=None, request_timeout=DEFAULT):
        if headers:
            headers = headers.copy()
            for key in ("accept", "content-type"):
                if headers.get(key):
                    headers[key] = _plain_media_type(headers[key])
        return super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)


def register_plain_json_node() -> None:
    NODE_CLASS_NAMES.setdefault(PLAIN_JSON_NODE, PlainJsonNode)


register_plain_json_node()


def find_documents(client, index: str, terms: dict[str, Any], size: int = 2000) -> list[dict]:
    """Sources of the documents whose fields equal ``terms`` exactly (after a refresh)."""
    client.indices.refresh(index=index)
    body = {"size": size, "query": {"bool": {"filter": [{"term": {k: v}} for k, v in terms.items()]}}}
    return [hit["_source"] for hit in client.search(index=index, body=body)["hits"]["hits"]]


# --------------------------------------------------------------------------- the part


class SearchStore:
    """``with SearchStore(workdir) as store: store.url`` -> ``http://127.0.0.1:<port>``."""

    name = "osmem-server"

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.process = ManagedProcess(
            self.name,
            [
                osmem_binary(),
                "--addr",
                f"{LOOPBACK}:{self.port}",
                "--no-stdin-watch",
                "--no-ja",
                "--parent-pid",
                str(os.getpid()),
            ],
            log=self.workdir / f"osmem-{self.port}.log",
        )

    # -- lifetime
    def start(self) -> SearchStore:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_until(
            self._answers, f"{self.name} on {self.url}", timeout=30, proc=self.process.proc, log=self.process.log
        )
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> SearchStore:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _answers(self) -> bool:
        if not port_open(self.port):
            return False
        return self.request("GET", "/", timeout=2.0).get("version", {}).get("number") is not None

    def ensure_alive(self) -> None:
        where = f"{self.name} (pid {self.process.pid}, {LOOPBACK}:{self.port})"
        if not self.process.alive():
            raise SandboxError(f"{where} is not running")
        try:
            ok = self._answers()
        except Exception as exc:  # noqa: BLE001 - reported with the part named
            raise SandboxError(f"{where} is not answering: {exc}") from exc
        if not ok:
            raise SandboxError(f"{where} is not answering")

    # -- plain HTTP (no client library: used to reset state between tests)
    def request(self, method: str, path: str, body: Any = None, timeout: float = ADMIN_TIMEOUT_S) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise SandboxError(f"{self.name}: {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
        return json.loads(text) if text else {}

    def index_names(self) -> list[str]:
        return sorted(row["index"] for row in self.request("GET", "/_cat/indices?format=json&h=index"))

    def template_names(self) -> list[str]:
        return sorted(t["name"] for t in self.request("GET", "/_index_template").get("index_templates", []))

    def reset(self) -> None:
        """Delete every index and index template (tests start from an empty store)."""
        for index in self.index_names():
            self.request("DELETE", f"/{index}")
        for template in self.template_names():
            self.request("DELETE", f"/_index_template/{template}")

    # -- clients
    def opensearch_client(self, url: str | None = None, **kwargs: Any):
        from opensearchpy import OpenSearch

        kwargs.setdefault("timeout", ADMIN_TIMEOUT_S)
        return OpenSearch(hosts=[url or self.url], **kwargs)

    def elasticsearch_client(self, url: str | None = None, **kwargs: Any):
        from elasticsearch import Elasticsearch

        kwargs.setdefault("request_timeout", ADMIN_TIMEOUT_S)
        return Elasticsearch(url or self.url, node_class=PlainJsonNode, **kwargs)

    def airflow_connection(self, kind: Literal["elasticsearch", "opensearch"], url: str | None = None) -> dict:
        """The JSON (as a dict) of an ``AIRFLOW_CONN_<ID>`` for this store (or ``url``: a proxy)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url or self.url)
        if kind == "elasticsearch":
            return {
                "conn_type": "elasticsearch",
                "host": parts.hostname,
                "port": parts.port,
                "schema": parts.scheme,
                "extra": {"node_class": PLAIN_JSON_NODE},
            }
        if kind == "opensearch":
            return {
                "conn_type": "opensearch",
                "host": parts.hostname,
                "port": parts.port,
                "extra": {"use_ssl": parts.scheme == "https", "verify_certs": False},
            }
        raise ValueError(f"unknown store kind {kind!r} (elasticsearch or opensearch)")

    def subprocess_env(self, kind: Literal["elasticsearch", "opensearch"]) -> dict[str, str]:
        """Environment for a child Python process (Airflow) that uses ``airflow_connection(kind)``.

        For ``elasticsearch``: ``PYTHONPATH`` gains a folder whose ``sitecustomize.py`` imports
        this module, registering ``PlainJsonNode`` in the child. TEST-ONLY, like the node.
        """
        if kind != "elasticsearch":
            return {}
        site = self.workdir / "plain-json-node-site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(
            "# TEST-ONLY, written by sandbox.search: registers PlainJsonNode (osmem needs plain JSON)\n"
            "try:\n    import sandbox.search  # noqa: F401\nexcept ImportError:\n    pass\n"
        )
        path = [str(site)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return {"PYTHONPATH": os.pathsep.join(path)}

    def connection_env(
        self, conn_id: str, kind: Literal["elasticsearch", "opensearch"], url: str | None = None
    ) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}`` for ``os.environ`` / ``monkeypatch.setenv``."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.airflow_connection(kind, url))}
