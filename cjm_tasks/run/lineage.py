"""What a run records in every map it builds: its inputs, its configuration and its code.

Computed by the run (here, where reading the package metadata and asking git is allowed) and
passed into the map builder, which does no I/O.
"""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cjm_tasks.config import CjmConfig
from cjm_tasks.ingest.canonical import SourceData


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    try:
        v = version("cjm")
    except PackageNotFoundError:
        v = "0+unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        if sha.returncode == 0 and sha.stdout.strip():
            v += f"+g{sha.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def lineage_of(data: dict[str, SourceData], config: CjmConfig) -> dict[str, Any]:
    """Lineage block of a map: every input's rows, sha256 and location; the configuration's hash
    (in a run, that of its snapshot: the same value); the code version; the engine that counted."""
    return {
        "inputs": {name: {"rows": src.row_count, "sha256": src.sha256, "location": ", ".join(f.location for f in src.files),
                          **({"query": next(f.query for f in src.files if f.query)} if any(f.query for f in src.files) else {})}
                   for name, src in data.items()},
        "config_sha256": config.sha256(),
        "code_version": code_version(),
        "engine": config.engine.kind,
    }
