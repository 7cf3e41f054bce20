"""Error types shared across the package (kept import-free so every module can use them)."""

from __future__ import annotations


class KafkaMonitorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(KafkaMonitorError, ValueError):
    """The configuration (or a data file in include/) is invalid; the message names the field."""
