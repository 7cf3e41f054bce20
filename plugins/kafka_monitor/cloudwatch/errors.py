"""The two ways the CloudWatch room fails: a bad dashboard body, or a failed CloudWatch call."""

from __future__ import annotations

from collections.abc import Sequence

from kafka_monitor.errors import KafkaMonitorError


class DashboardValidationError(KafkaMonitorError):
    """The rendered dashboard body is not a valid CloudWatch dashboard; names widget and field."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = f"invalid CloudWatch dashboard body: {self.problems[0]}"
        else:
            message = f"invalid CloudWatch dashboard body ({len(self.problems)} problems):\n" + "\n".join(
                f"  {p}" for p in self.problems
            )
        super().__init__(message)


class CloudWatchError(KafkaMonitorError):
    """A CloudWatch call failed; the message names the operation and the cause.

    ``kind``: "auth", "throttled", "invalid", "unreachable", "connection" (the Airflow
    connection) or "aws"; ``code``: AWS's error code when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "aws",
        code: str | None = None,
        validation_messages: Sequence[str] = (),
    ):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.validation_messages = list(validation_messages)
