"""Field checks shared by the configuration schema and the rooms that take values from it.

Each rule is written here once: the pydantic models in ``config.schema`` apply them on load,
and the command renderer, the sink and the CloudWatch room call the same functions for values
that reach them another way. Every check raises ``ValueError`` with a message that names the
value and says what a valid one looks like (pydantic prefixes the field's path).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

# Kafka's own rule (clients/.../common/internals/Topic.java): legal chars, max 249, not "." or "..".
TOPIC_PATTERN = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# Names we put into document ids, index names and task labels.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
HOSTNAME_PATTERN = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
INDEX_PREFIX_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,200}")
CONN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,250}")
# AWS region names: eu-west-1, ap-northeast-2, us-gov-west-1.
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
# An http(s) URL that can stand in a markdown link: no spaces, quotes or angle brackets.
HTTP_URL_PATTERN = re.compile(r"https?://[^\s<>\"]+")
# CloudWatch custom metric namespaces: printable ASCII, and AWS/ is reserved for AWS.
NAMESPACE_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")

# The store settings' index prefix fields, which must name different indices.
INDEX_PREFIX_FIELDS = ("lag_index", "status_index", "jmx_index", "incident_index")


def check_topic(value: str) -> str:
    if not isinstance(value, str) or not TOPIC_PATTERN.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{value!r} is not a valid Kafka topic name (1-249 characters from [a-zA-Z0-9._-], and not '.' or '..')"
        )
    return value


def check_unique_topics(topics: list[str]) -> None:
    """A topic listed twice in one entry would be collected, indexed and alerted on twice."""
    seen: set[str] = set()
    for i, topic in enumerate(topics):
        if topic in seen:
            raise ValueError(f"topics[{i}]: {topic!r} is listed twice")
        seen.add(topic)


def check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits, '_', '.', '-'; at most 100)")
    return value


def check_host(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])  # raises ValueError with its own message
        return host
    if HOSTNAME_PATTERN.fullmatch(host):
        return host
    raise ValueError(f"{host!r} is not a valid host name or address")


def check_host_port(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a host:port string")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not host:port")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} has no valid port (1-65535)")
    check_host(host)
    return value


def split_servers(value: Any) -> Any:
    """Accept Kafka's own comma-separated form as well as a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def check_absolute_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value or "\n" in value:
        raise ValueError(f"{value!r} is not an absolute path")
    # Normalise without touching the (remote) file system.
    return str(PurePosixPath(value))


def check_group(value: str) -> str:
    # Kafka puts no rule on group ids; they are always shell-quoted. Only what cannot travel
    # through a command line or a document id is refused.
    if not value or "\x00" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{value!r} is not a usable consumer group id (empty, or has NUL/newline)")
    return value


def check_conn_id(value: str) -> str:
    if not CONN_ID_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid Airflow connection id")
    return value


def check_http_url(value: str) -> str:
    if not HTTP_URL_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not an http(s) URL (without spaces, quotes or angle brackets)")
    return value


def check_custom_namespace(value: str) -> str:
    if not isinstance(value, str) or not NAMESPACE_PATTERN.fullmatch(value) or value.startswith(("AWS/", ":")):
        raise ValueError(
            f"{value!r} is not a usable custom metric namespace "
            "(1-255 printable ASCII characters, not starting with 'AWS/' or ':')"
        )
    return value


def check_distinct_index_prefixes(prefixes: Mapping[str, str]) -> None:
    """The lag, status and JMX documents go to different indices (field name -> prefix)."""
    if len(set(prefixes.values())) < len(prefixes):
        raise ValueError(f"{', '.join(list(prefixes)[:-1])} and {list(prefixes)[-1]} must differ")
