"""Running the real pipeline over a generated world with the example configuration, and one
seed end to end (generate, run, score).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjm_tasks.periods import Period
from cjm_tasks.resources import configs_dir

from cjm_demo.evaluation_data.scoring import keyword_coverage, score
from cjm_demo.evaluation_data.writers import generate, read_truth

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig

Progress = Callable[[str], None]

EXAMPLE_DIR = configs_dir() / "examples" / "evaluation"
"""The config a user of this retailer's data would write (``cjm.yaml`` reads the wide survey,
``cjm-long-survey.yaml`` the long one)."""

DATA_ENV, STORE_ENV, WORK_ENV, SITE_ENV = "CJM_EVAL_DATA", "CJM_EVAL_STORE", "CJM_EVAL_WORK", "CJM_EVAL_SITE"


def config_path(shape: str) -> Path:
    """The example config that reads a survey export of ``shape``."""
    return EXAMPLE_DIR / ("cjm-long-survey.yaml" if shape == "long" else "cjm.yaml")


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (the config reads them once,
    when it is loaded), then put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_evaluation_config(data_dir: str | os.PathLike, store_dir: str | os.PathLike,
                           work_dir: str | os.PathLike | None = None) -> CjmConfig:
    """The example config for the survey shape of ``data_dir``, reading that folder and storing
    versions in ``store_dir`` (run workspaces and the site beside it unless ``work_dir`` is given).

    Raises :class:`~cjm_tasks.errors.ConfigError` when the example config does not load.
    """
    from cjm_tasks.config import load_config

    truth = read_truth(data_dir)
    work = Path(work_dir) if work_dir else Path(store_dir).parent / "work"
    with _environment({DATA_ENV: str(Path(data_dir).resolve()), STORE_ENV: str(Path(store_dir).resolve()),
                       WORK_ENV: str(work.resolve()), SITE_ENV: str((work / "site").resolve())}):
        return load_config(config_path(truth["survey_shape"]))


def run_pipeline(data_dir: str | os.PathLike, store_dir: str | os.PathLike, work_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None) -> list[str]:
    """Build and store every quarter of ``data_dir`` in order, as a quarterly refresh would
    (``build_period`` then ``store_maps``; the site is not rendered). Returns the periods.

    ``progress``: called with a short message before each quarter. Raises
    :class:`~cjm_tasks.errors.ValidationFailed` when a quarter fails the gate.
    """
    from cjm_tasks.run.pipeline import build_period, store_maps

    config = load_evaluation_config(data_dir, store_dir, work_dir)
    periods = read_truth(data_dir)["periods"]
    for period in periods:
        if progress:
            progress(f"building {period}")
        maps, _ = build_period(config, Period.parse(period))
        store_maps(config, maps)
    return periods


def collect_diffs(config: CjmConfig) -> list[dict[str, Any]]:
    """Every stored version's diff of every persona but ``all``: ``[{persona, version, period,
    diff}]`` in persona and version order."""
    from cjm_tasks.run.pipeline import open_version_store

    store = open_version_store(config)
    out = []
    for persona in store.personas():
        if persona == "all":
            continue
        for stored in store.list(persona):
            out.append({"persona": persona, "version": str(stored.version), "period": str(stored.version.period),
                        "diff": store.read_diff(stored)})
    return out


# ----------------------------------------------------------------------------------- scoring


def run_seed(seed: int, scale: float, workdir: str | os.PathLike, progress: Progress | None = None) -> dict[str, Any]:
    """Generate one seed under ``workdir/seed-<seed>/``, run the pipeline over its quarters,
    score the stored diffs and measure the keyword coverage of its texts.

    Returns ``{"seed", "shape", "data", "store", "config", "units", "noise", "metric",
    "coverage", "changes", "seconds", "diffs"}`` (``diffs`` as :func:`collect_diffs`).
    Raises :class:`~cjm_tasks.errors.ValidationFailed` when a quarter fails the gate.
    """
    import time

    root = Path(workdir) / f"seed-{seed}"
    data, store, work = root / "data", root / "store", root / "work"
    t0 = time.perf_counter()
    generated = generate(data, seed, scale)
    t1 = time.perf_counter()
    run_pipeline(data, store, work, progress)
    t2 = time.perf_counter()
    config = load_evaluation_config(data, store, work)
    diffs = collect_diffs(config)
    scored = score(generated.truth, diffs)
    return {"seed": seed, "shape": generated.survey_shape, "data": str(data), "store": str(store), "config": str(config.path),
            **scored, "coverage": keyword_coverage(data, config), "changes": generated.truth["changes"],
            "seconds": {"generate": round(t1 - t0, 1), "pipeline": round(t2 - t1, 1)}, "diffs": diffs}
