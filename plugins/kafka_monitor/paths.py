"""Where the project's data files live.

``include/`` sits beside ``plugins/`` in the repository and in the Airflow image
(``/opt/airflow/include``). ``KAFKA_MONITOR_INCLUDE`` points elsewhere when a deployment
keeps them apart.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def include_dir() -> Path:
    override = os.environ.get("KAFKA_MONITOR_INCLUDE")
    if override:
        return Path(override)
    # plugins/kafka_monitor/ -> repository root (or /opt/airflow) -> include/
    return PACKAGE_DIR.parent.parent / "include"


def include_path(*parts: str) -> Path:
    return include_dir().joinpath(*parts)
