"""The CloudWatch client from the Airflow connection, and one call wrapper that maps every
botocore failure to a ``CloudWatchError`` by exception type and AWS error code.

Classification never reads a message's wording: ``ClientError`` carries AWS's error code and
HTTP status, and botocore's exception classes say the rest (no credentials, endpoint
unreachable). The one provider behaviour relied on, ``AirflowNotFoundException`` for a
missing connection, is pinned by a test (tests/test_cloudwatch.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kafka_monitor.cloudwatch.errors import CloudWatchError
from kafka_monitor.config.schema import CloudWatchSettings

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# Bounded by default: the sync runs inside a per-minute DAG. The connection's
# extra "config_kwargs" override any of these.
DEFAULT_BOTO_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 15,
    "retries": {"mode": "standard", "max_attempts": 3},
}

_AUTH_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidSignatureException",
    "AuthFailure",
}
_THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
_NOT_FOUND_CODES = {"ResourceNotFound", "ResourceNotFoundException"}
_INVALID_CODES = {
    "InvalidParameterInput",
    "DashboardInvalidInputError",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "ValidationError",
    "InvalidFormat",
}


def cloudwatch_client(settings: CloudWatchSettings):
    """A boto3 CloudWatch client from the Airflow connection ``settings.aws_conn_id``.

    A missing connection is an error here (AwsBaseHook would only log it and fall back to
    whatever credentials the worker happens to have).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    hook = AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="cloudwatch", region_name=settings.region)
    try:
        hook.get_connection(settings.aws_conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException differs between airflow and airflow.sdk
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        raise CloudWatchError(
            f"Airflow connection {settings.aws_conn_id!r} (cloudwatch.aws_conn_id) is not defined; "
            "create an aws connection holding the key id/secret or role to use",
            kind="connection",
        ) from None
    config = Config(**DEFAULT_BOTO_CONFIG).merge(hook.config)
    return hook.get_client_type(region_name=settings.region, config=config)


def client_of(hook_or_client: Any):
    if hasattr(hook_or_client, "get_conn") and not hasattr(hook_or_client, "meta"):
        return hook_or_client.get_conn()
    return hook_or_client


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def _error_parts(exc: ClientError) -> tuple[str | None, str, int | None, int]:
    """(code, message, HTTP status, retries made) of a botocore ClientError."""
    response: Mapping[str, Any] = exc.response or {}
    error = response.get("Error", {}) or {}
    meta = response.get("ResponseMetadata", {}) or {}
    code = error.get("Code")
    message = error.get("Message") or str(exc)
    # Some servers (moto, proxies) answer a JSON-protocol call with an XML error body; botocore
    # then only knows the HTTP status. Take the real code and message from the XML.
    if message.lstrip().startswith("<") and (found := _XML_CODE.search(message)):
        code = found.group(1)
        text = _XML_MESSAGE.search(message)
        message = text.group(1) if text else message
    return code, message, meta.get("HTTPStatusCode"), int(meta.get("RetryAttempts") or 0)


def validation_messages(source: Mapping[str, Any] | None) -> list[str]:
    if not source:
        return []
    items = source.get("DashboardValidationMessages") or source.get("dashboardValidationMessages") or []
    messages = []
    for item in items:
        if isinstance(item, Mapping):
            path = item.get("DataPath") or item.get("dataPath") or ""
            text = item.get("Message") or item.get("message") or ""
            messages.append(f"{path}: {text}" if path else str(text))
        else:
            messages.append(str(item))
    return messages


def call(
    client: Any, operation: str, subject: str, *, missing_ok: bool = False, **kwargs: Any
) -> dict[str, Any] | None:
    """One CloudWatch API call; any failure becomes a CloudWatchError naming it and the cause.

    With ``missing_ok`` a "does not exist" answer returns None.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    method = re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()
    try:
        return getattr(client, method)(**kwargs)
    except ClientError as exc:
        code, message, status, retries = _error_parts(exc)
        if missing_ok and code in _NOT_FOUND_CODES:
            return None
        kind = (
            "auth"
            if code in _AUTH_CODES or status in (401, 403)
            else "throttled"
            if code in _THROTTLE_CODES or status == 429
            else "invalid"
            if code in _INVALID_CODES
            else "aws"
        )
        retried = f" after {retries} retries" if retries else ""
        messages = validation_messages(exc.response)
        detail = f"; validation messages: {'; '.join(messages)}" if messages else ""
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed{retried}: {code or 'error'} "
            f"(HTTP {status}): {message}{detail}",
            kind=kind,
            code=code,
            validation_messages=messages,
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed: no usable AWS credentials: {exc}", kind="auth"
        ) from exc
    except BotoConnectionError as exc:
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed: cannot reach the endpoint: {exc}", kind="unreachable"
        ) from exc
    except BotoCoreError as exc:
        raise CloudWatchError(f"CloudWatch {operation} for {subject} failed: {exc}", kind="aws") from exc
