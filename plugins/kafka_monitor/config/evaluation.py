"""The ``evaluation:`` section: how each minute's lag is judged (see docs/evaluation.md).

Defaults hold for every topic; ``topics`` overrides them per topic, key by key::

    evaluation:
      window_minutes: 10
      allowed_lag: 0
      max_lag_seconds: 300
      critical_lag_seconds: 900
      topics:
        HEC_H_RECV_01: {allowed_lag: 1}     # transactional producer: a commit marker stays behind

The topics named under ``topics`` must be mirrored topics (checked by ``MonitorConfig``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The history query reads (window_minutes - 1) x partitions documents in one request; a store
# answers at most 10,000 (index.max_result_window): an hour is the most that stays useful.
MAX_WINDOW_MINUTES = 60


class _Strict(BaseModel):
    # Same rule as the rest of the file: unknown keys are errors, values are frozen.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_seconds(max_s: float | None, critical_s: float | None) -> None:
    if max_s is not None and critical_s is not None and critical_s < max_s:
        raise ValueError(
            f"critical_lag_seconds ({critical_s}) must not be below max_lag_seconds ({max_s}): "
            "critical is the stronger threshold"
        )


class TopicEvaluation(_Strict):
    """Per-topic overrides; a key left out takes the section's default."""

    window_minutes: Annotated[int, Field(ge=2, le=MAX_WINDOW_MINUTES)] | None = None
    allowed_lag: Annotated[int, Field(ge=0)] | None = None
    max_lag_seconds: Annotated[float, Field(gt=0)] | None = None
    critical_lag_seconds: Annotated[float, Field(gt=0)] | None = None


class Thresholds(_Strict):
    """What one topic is judged by, defaults and override merged."""

    window_minutes: int
    allowed_lag: int
    max_lag_seconds: float | None
    critical_lag_seconds: float | None


class EvaluationSettings(_Strict):
    window_minutes: Annotated[int, Field(ge=2, le=MAX_WINDOW_MINUTES)] = (
        10  # minutes of history judged, this one included
    )
    allowed_lag: Annotated[int, Field(ge=0)] = (
        0  # lag (messages) that is never a problem (1 with transactional producers)
    )
    max_lag_seconds: Annotated[float, Field(gt=0)] | None = None  # lag in seconds above this: warn
    critical_lag_seconds: Annotated[float, Field(gt=0)] | None = None  # lag in seconds above this: severity error
    topics: dict[str, TopicEvaluation] = {}

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> EvaluationSettings:
        _check_seconds(self.max_lag_seconds, self.critical_lag_seconds)
        for topic in self.topics:
            merged = self.for_topic(topic)
            try:
                _check_seconds(merged.max_lag_seconds, merged.critical_lag_seconds)
            except ValueError as exc:
                raise ValueError(f"topics.{topic}: {exc}") from None
        return self

    def for_topic(self, topic: str) -> Thresholds:
        override = self.topics.get(topic) or TopicEvaluation()
        values = {
            key: getattr(self, key) if getattr(override, key) is None else getattr(override, key)
            for key in Thresholds.model_fields
        }
        return Thresholds(**values)
