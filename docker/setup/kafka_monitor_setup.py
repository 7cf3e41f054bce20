"""One-shot set-up of the docker-compose demo stack (the ``kafka-monitor-setup`` service).

It runs in the Airflow image after the metadata database is migrated and Elasticsearch is
healthy, and does, in order, each step idempotent:

1. SSH keys, generated at the stack's first start into the ``kafka-monitor-keys`` volume and
   never committed: the key pair the monitor logs in with, and the MirrorMaker host's own host
   key, whose public half the Airflow connection pins (``host_key`` extra). The mirrormaker
   container installs them from the same volume.
2. Elasticsearch security: the ``kibana_system`` password (so Kibana can start), and a
   ``kafka_monitor`` user holding only the privileges the monitor needs (role
   ``kafka_monitor_writer``, see ``store_role``).
3. The Airflow connections the configuration names (SSH per MirrorMaker host, the store),
   imported with ``airflow connections import --overwrite``.
4. The index templates, through the product's own ``SearchSink.ensure_templates`` (so the
   names and priorities are exactly the ones the DAG uses), for Kibana's data views.
5. The Kibana saved objects of ``include/kibana/*.ndjson`` (data views retitled to the
   configured index prefixes), imported with overwrite once Kibana is available.

Every failure ends the service with exit status 1 and a message naming the step and the
cause; ``docker compose logs kafka-monitor-setup`` shows it. Settings come from the
environment (see ``Settings.from_env``); secrets only from there, never from files here.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CLIENT_KEY = "airflow_ed25519"  # the monitor's key; the public half is ...pub
HOST_KEY = "mirrormaker_host_ed25519_key"  # the MirrorMaker host's key; public half ...pub
STORE_ROLE = "kafka_monitor_writer"
# Data view saved-object id -> the store setting that holds its index prefix.
DATA_VIEW_PREFIXES = {
    "kafka-monitor-lag": "lag_index",
    "kafka-monitor-status": "status_index",
    "kafka-monitor-jmx": "jmx_index",
}


class SetupError(Exception):
    """A step failed; the message names the step and the cause."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    keys_dir: Path
    config_path: Path
    kibana_dir: Path
    elasticsearch_url: str
    kibana_url: str
    elastic_password: str
    kibana_system_password: str
    store_user: str
    store_password: str
    mirrormaker_ssh_host: str
    mirrormaker_ssh_user: str
    mirrormaker_ssh_port: int
    wait_timeout_s: float
    heartbeat: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise SetupError(f"settings: environment variable {name} is not set (see .env.example)")
            return value

        include = Path(env.get("KAFKA_MONITOR_INCLUDE", "/opt/airflow/include"))
        return cls(
            keys_dir=Path(env.get("KAFKA_MONITOR_KEYS_DIR", "/opt/airflow/keys")),
            config_path=Path(need("KAFKA_MONITOR_CONFIG")),
            kibana_dir=include / "kibana",
            elasticsearch_url=need("ELASTICSEARCH_URL").rstrip("/"),
            kibana_url=need("KIBANA_URL").rstrip("/"),
            elastic_password=need("ELASTIC_PASSWORD"),
            kibana_system_password=need("KIBANA_SYSTEM_PASSWORD"),
            store_user=env.get("KAFKA_MONITOR_STORE_USER", "kafka_monitor"),
            store_password=need("KAFKA_MONITOR_STORE_PASSWORD"),
            mirrormaker_ssh_host=env.get("MIRRORMAKER_SSH_HOST", "mirrormaker"),
            mirrormaker_ssh_user=env.get("MIRRORMAKER_SSH_USER", "appuser"),
            mirrormaker_ssh_port=int(env.get("MIRRORMAKER_SSH_PORT", "22")),
            wait_timeout_s=float(env.get("SETUP_WAIT_TIMEOUT_S", "600")),
            heartbeat=Path(env.get("SETUP_HEARTBEAT_FILE", "/tmp/kafka-monitor-setup.heartbeat")),
        )


def log(message: str) -> None:
    print(f"kafka-monitor-setup: {message}", flush=True)


# --------------------------------------------------------------------------- 1. SSH keys


@dataclass(frozen=True)
class SshKeys:
    client_private_key: str  # OpenSSH PEM, goes into the connection's private_key extra
    client_public_key: str  # "ssh-ed25519 AAAA..." (authorized on the MirrorMaker host)
    host_public_key: str  # "ssh-ed25519 AAAA..." (pinned by the connection's host_key extra)


def _write_private(path: Path, data: bytes) -> None:
    # Created with 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def generate_ed25519(private_path: Path, comment: str) -> None:
    """An ed25519 key pair in OpenSSH format at ``private_path`` and ``private_path.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    _write_private(private_path, private)
    Path(f"{private_path}.pub").write_bytes(public + f" {comment}\n".encode())
    os.chmod(f"{private_path}.pub", 0o644)


def _public_line(path: Path) -> str:
    fields = path.read_text(encoding="ascii").split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        raise SetupError(f"ssh keys: {path} is not an ssh-ed25519 public key")
    return f"{fields[0]} {fields[1]}"


def ensure_keys(keys_dir: Path) -> SshKeys:
    """The two key pairs, generated once; later starts reuse them (the pinned key stays valid)."""
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
        for name, comment in ((CLIENT_KEY, "kafka-monitor@airflow"), (HOST_KEY, "mirrormaker-demo-host")):
            private = keys_dir / name
            public = keys_dir / f"{name}.pub"
            if private.exists() != public.exists():
                raise SetupError(
                    f"ssh keys: {private} and {public} must both exist or both be absent; "
                    "delete the one left over to generate a new pair"
                )
            if not private.exists():
                generate_ed25519(private, comment)
                log(f"generated {private}")
        return SshKeys(
            client_private_key=(keys_dir / CLIENT_KEY).read_text(encoding="ascii"),
            client_public_key=_public_line(keys_dir / f"{CLIENT_KEY}.pub"),
            host_public_key=_public_line(keys_dir / f"{HOST_KEY}.pub"),
        )
    except OSError as exc:
        raise SetupError(f"ssh keys: cannot read or write {keys_dir}: {exc}") from None


# --------------------------------------------------------------------------- 3. connections


def ssh_connection(
    keys: SshKeys, *, host: str, port: int, user: str, conn_timeout: float, description: str
) -> dict[str, Any]:
    """An Airflow SSH connection that logs in with the generated key and pins the host key."""
    return {
        "conn_type": "ssh",
        "description": description,
        "host": host,
        "port": port,
        "login": user,
        "extra": json.dumps(
            {
                "private_key": keys.client_private_key,
                "host_key": keys.host_public_key,
                "no_host_key_check": False,
                "allow_host_key_change": False,
                "look_for_keys": False,
                "conn_timeout": conn_timeout,
            }
        ),
    }


def store_connection(store: Any, url: str, user: str, password: str) -> dict[str, Any]:
    """The Airflow connection of the search store (``store`` is the config's ``StoreSettings``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"connections: ELASTICSEARCH_URL {url!r} is not an http(s) URL")
    return {
        "conn_type": store.kind,  # "elasticsearch" or "opensearch"
        "description": "kafka-monitor's search store (user with the kafka_monitor_writer role)",
        "host": parts.hostname,
        "port": parts.port or (443 if parts.scheme == "https" else 9200),
        "schema": parts.scheme,
        "login": user,
        "password": password,
    }


def demo_connections(config: Any, keys: SshKeys, settings: Settings) -> dict[str, dict[str, Any]]:
    conns = {
        config.store.conn_id: store_connection(
            config.store, settings.elasticsearch_url, settings.store_user, settings.store_password
        ),
    }
    for mm in config.mirrormakers:
        conns[mm.ssh_conn_id] = ssh_connection(
            keys,
            host=settings.mirrormaker_ssh_host,
            port=settings.mirrormaker_ssh_port,
            user=settings.mirrormaker_ssh_user,
            conn_timeout=mm.timeouts.connect_s,
            description=f"MirrorMaker host {mm.name} (demo), host key pinned",
        )
    return conns


def import_connections(
    conns: Mapping[str, Mapping[str, Any]], run_airflow: Callable[[Sequence[str]], subprocess.CompletedProcess]
) -> None:
    """``airflow connections import --overwrite`` from a private temporary file.

    The CLI only prints (and exits 0) when it skips a connection, so its output is checked for
    an "Imported connection <id>" line per connection.
    """
    fd, name = tempfile.mkstemp(prefix="kafka-monitor-connections-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
            json.dump(conns, out)
        proc = run_airflow(["connections", "import", "--overwrite", name])
    finally:
        os.unlink(name)
    output = f"{proc.stdout or ''}\n{proc.stderr or ''}"
    missing = [conn_id for conn_id in conns if f"Imported connection {conn_id}" not in output]
    if proc.returncode != 0 or missing:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SetupError(
            f"connections: `airflow connections import` did not import {missing or list(conns)} "
            f"(exit {proc.returncode}):\n{tail}"
        )
    log(f"Airflow connections: {', '.join(sorted(conns))}")


def run_airflow_cli(args: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["airflow", *args], capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------- HTTP


def http_json(
    method: str,
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request; connection errors raise ``OSError``."""
    request_headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        request_headers.setdefault("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request_headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=request_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float, heartbeat: Path | None, interval_s: float = 5.0
) -> None:
    """Poll ``check`` until it is true, touching the heartbeat file the health check reads."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while True:
        if heartbeat is not None:
            heartbeat.touch()
        try:
            if check():
                return
        except OSError as exc:
            last_error = f" (last error: {exc})"
        if time.monotonic() >= deadline:
            raise SetupError(f"waiting for {what}: not ready after {timeout_s:.0f} s{last_error}")
        time.sleep(interval_s)


# --------------------------------------------------------------------------- 2. Elasticsearch security


def store_role(store: Any) -> dict[str, Any]:
    """The least the monitor needs (the calls ``kafka_monitor.store.sink`` makes):

    - cluster ``manage_index_templates``: read and create its three index templates;
    - cluster ``monitor`` + index ``monitor``: ``_cat/indices`` for retention;
    - index ``create_index``: the first bulk of a day creates the daily index;
    - index ``index``: bulk ``index`` actions (a retried run overwrites its own documents);
    - index ``delete_index``: retention deletes daily indices older than ``retention_days``.
    """
    return {
        "cluster": ["monitor", "manage_index_templates"],
        "indices": [
            {
                "names": [f"{store.lag_index}-*", f"{store.status_index}-*", f"{store.jmx_index}-*"],
                "privileges": ["create_index", "index", "delete_index", "monitor"],
            }
        ],
    }


def setup_elasticsearch_security(settings: Settings, store: Any) -> None:
    base, auth = settings.elasticsearch_url, ("elastic", settings.elastic_password)
    steps = [
        (
            "setting the kibana_system password",
            "POST",
            "/_security/user/kibana_system/_password",
            {"password": settings.kibana_system_password},
        ),
        (f"creating role {STORE_ROLE}", "PUT", f"/_security/role/{STORE_ROLE}", store_role(store)),
        (
            f"creating user {settings.store_user}",
            "PUT",
            f"/_security/user/{settings.store_user}",
            {"password": settings.store_password, "roles": [STORE_ROLE], "full_name": "kafka-monitor (Airflow)"},
        ),
    ]
    for what, method, path, body in steps:
        try:
            status, reply = http_json(method, base + path, auth=auth, body=body)
        except OSError as exc:
            raise SetupError(f"elasticsearch: {what}: cannot reach {base}: {exc}") from None
        if status != 200:
            raise SetupError(f"elasticsearch: {what}: HTTP {status}: {str(reply)[:500]}")
    log(f"Elasticsearch: kibana_system password set, user {settings.store_user!r} with role {STORE_ROLE}")


def elasticsearch_ready(settings: Settings) -> bool:
    status, reply = http_json(
        "GET",
        f"{settings.elasticsearch_url}/_cluster/health?wait_for_status=yellow&timeout=5s",
        auth=("elastic", settings.elastic_password),
        timeout=15,
    )
    return status == 200 and isinstance(reply, dict) and reply.get("status") in ("yellow", "green")


# --------------------------------------------------------------------------- 4. index templates


def apply_index_templates(config: Any, store_conn: Mapping[str, Any]) -> None:
    """The product's own templates, through the product's own code."""
    from kafka_monitor.errors import KafkaMonitorError
    from kafka_monitor.store.sink import SearchSink

    # Outside a task, hooks resolve connections from AIRFLOW_CONN_* (not the metastore).
    os.environ[f"AIRFLOW_CONN_{config.store.conn_id.upper()}"] = json.dumps(store_conn)
    try:
        SearchSink.from_settings(config.store).ensure_templates()
    except KafkaMonitorError as exc:
        raise SetupError(f"index templates: {exc}") from None
    log(
        f"index templates for {config.store.lag_index}-*, {config.store.status_index}-*, "
        f"{config.store.jmx_index}-* are in place"
    )


# --------------------------------------------------------------------------- 5. Kibana


def saved_objects(kibana_dir: Path, store: Any) -> list[dict[str, Any]]:
    """Every object of ``kibana_dir/*.ndjson`` (file order), data views retitled to ``store``'s prefixes."""
    files = sorted(kibana_dir.glob("*.ndjson"))
    if not files:
        raise SetupError(f"kibana: no saved objects (*.ndjson) in {kibana_dir}")
    objects = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SetupError(f"kibana: {path.name} line {number} is not JSON: {exc.msg}") from None
            setting = DATA_VIEW_PREFIXES.get(obj.get("id")) if obj.get("type") == "index-pattern" else None
            if setting:
                obj["attributes"]["title"] = f"{getattr(store, setting)}-*"
            objects.append(obj)
    return objects


def multipart_file(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"kafka-monitor-{uuid.uuid4().hex}"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def import_saved_objects(kibana_url: str, auth: tuple[str, str], objects: Sequence[Mapping[str, Any]]) -> int:
    """``POST /api/saved_objects/_import?overwrite=true``; the number of objects Kibana took."""
    ndjson = "".join(json.dumps(obj, separators=(",", ":")) + "\n" for obj in objects).encode("utf-8")
    body, content_type = multipart_file("file", "kafka-monitor.ndjson", ndjson)
    try:
        status, reply = http_json(
            "POST",
            f"{kibana_url}/api/saved_objects/_import?overwrite=true",
            auth=auth,
            data=body,
            headers={"Content-Type": content_type, "kbn-xsrf": "kafka-monitor"},
            timeout=120,
        )
    except OSError as exc:
        raise SetupError(f"kibana: importing saved objects: cannot reach {kibana_url}: {exc}") from None
    if status != 200 or not isinstance(reply, dict):
        raise SetupError(f"kibana: importing saved objects: HTTP {status}: {str(reply)[:500]}")
    errors = reply.get("errors") or []
    if not reply.get("success") or errors:
        described = (
            "; ".join(
                f"{e.get('type')} {e.get('id')!r} ({e.get('title', '')}): {json.dumps(e.get('error'))[:200]}"
                for e in errors[:10]
            )
            or str(reply)[:500]
        )
        raise SetupError(f"kibana: {len(errors)} of {len(objects)} saved objects were rejected: {described}")
    count = int(reply.get("successCount", 0))
    if count != len(objects):
        raise SetupError(f"kibana: Kibana confirmed {count} of {len(objects)} saved objects")
    return count


def kibana_ready(settings: Settings) -> bool:
    status, reply = http_json(
        "GET", f"{settings.kibana_url}/api/status", auth=("elastic", settings.elastic_password), timeout=15
    )
    level = (((reply or {}).get("status") or {}).get("overall") or {}).get("level") if isinstance(reply, dict) else None
    return status == 200 and level == "available"


# --------------------------------------------------------------------------- main


def load_product_config(path: Path) -> Any:
    from kafka_monitor.config.schema import load_config
    from kafka_monitor.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        raise SetupError(f"configuration: {exc}") from None


def main(env: Mapping[str, str] | None = None) -> int:
    try:
        settings = Settings.from_env(os.environ if env is None else env)
        # The product package lives in plugins/ (Airflow's plugins folder, on sys.path for tasks).
        sys.path.insert(0, os.environ.get("AIRFLOW__CORE__PLUGINS_FOLDER", "/opt/airflow/plugins"))
        config = load_product_config(settings.config_path)
        keys = ensure_keys(settings.keys_dir)
        wait_for("Elasticsearch", lambda: elasticsearch_ready(settings), settings.wait_timeout_s, settings.heartbeat)
        setup_elasticsearch_security(settings, config.store)
        conns = demo_connections(config, keys, settings)
        import_connections(conns, run_airflow_cli)
        apply_index_templates(config, conns[config.store.conn_id])
        objects = saved_objects(settings.kibana_dir, config.store)
        wait_for("Kibana", lambda: kibana_ready(settings), settings.wait_timeout_s, settings.heartbeat)
        count = import_saved_objects(settings.kibana_url, ("elastic", settings.elastic_password), objects)
        log(f"Kibana: {count} saved objects imported (dashboards 'MirrorMaker lag' and 'Data flow')")
    except SetupError as exc:
        log(f"FAILED: {exc}")
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
