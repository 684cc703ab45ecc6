"""The validated configuration as one object: the main file plus the files it names, with the
look-ups the pipeline uses (stages, events, questions, which way a metric is better) and the hash
of what shapes the maps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cjm_tasks.config.catalog import BarriersFile
from cjm_tasks.config.common import Strict
from cjm_tasks.config.journey import DEFAULT_ORDER_EVENTS, OrdersConfig, PersonasFile, StageConfig
from cjm_tasks.config.main import (BUILT_IN_BETTER, DiffConfig, EngineConfig, MetricsConfig, NotifyConfig, ProjectConfig, S3Config, StorageConfig,
                                   WaitConfig)
from cjm_tasks.config.sources import ExpectationsFile, SourceConfig


class CjmConfig(Strict):
    """The validated configuration: the main file plus the files it names."""

    path: Path
    project: ProjectConfig
    sources: dict[str, SourceConfig]
    storage: StorageConfig
    s3: S3Config
    metrics: MetricsConfig
    diff: DiffConfig
    notify: NotifyConfig
    stages: list[StageConfig]
    personas: PersonasFile
    barriers: BarriersFile
    expectations: ExpectationsFile
    files: dict[str, Path]
    orders: OrdersConfig | None = None
    barrier_files: list[Path] = []
    engine: EngineConfig = EngineConfig()
    wait: WaitConfig = WaitConfig()

    @property
    def order_events(self) -> list[str]:
        """Sales events that are orders: ``orders.events`` of stages.yaml, else order_placed and
        repeat_order when a stage lists them (empty: no order features)."""
        if self.orders is not None:
            return list(self.orders.events)
        return [e for e in DEFAULT_ORDER_EVENTS if e in self.event_stage]

    @property
    def stage_ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def stage(self, stage_id: str) -> StageConfig:
        return next(s for s in self.stages if s.id == stage_id)

    def next_stage(self, stage_id: str) -> str | None:
        """The stage whose reach counts as conversion from ``stage_id`` (None at the end)."""
        ids = self.stage_ids
        nxt = self.stage(stage_id).next
        if nxt == "__following__":
            i = ids.index(stage_id)
            return ids[i + 1] if i + 1 < len(ids) else None
        return nxt

    @property
    def event_stage(self) -> dict[str, str]:
        """Event type -> stage id."""
        return {e: s.id for s in self.stages for e in s.events}

    @property
    def question_stage_metric(self) -> dict[str, tuple[str, str]]:
        """Survey question id -> (stage id, metric)."""
        return {q: (s.id, m) for s in self.stages for q, m in s.questions.items()}

    def better(self, metric: str) -> str:
        """"lower" or "higher": which way ``metric`` (a stage metric, survey scale or rate) is better."""
        for stage in self.stages:
            if metric in stage.rates:
                return stage.rates[metric].better
        return self.metrics.better.get(metric) or BUILT_IN_BETTER.get(metric, "higher")

    def directions(self) -> dict[str, str]:
        """Every metric and rate of the configuration with the way it is better."""
        names = [*BUILT_IN_BETTER, *self.metrics.scales, *(r for s in self.stages for r in s.rates)]
        return {name: self.better(name) for name in dict.fromkeys(names)}

    def sha256(self) -> str:
        """Hash of what shapes the maps: everything but where data and outputs are stored and
        the diff thresholds (they shape diffs, not maps).

        Moving the inputs or the store, running on another engine, or waiting for the inputs otherwise (``wait``,
        a source's ``marker``) does not change it; changing a stage, persona rule,
        barrier keyword, threshold or column mapping does.
        """
        doc = self.model_dump(mode="json", exclude={"path", "files", "storage", "s3", "diff", "notify", "barrier_files", "engine", "wait"},
                               exclude_none=True)
        for src in doc["sources"].values():
            src.pop("location", None)
            src.pop("marker", None)  # when the files are complete, not what they hold
            if isinstance(src.get("sql"), dict):
                src["sql"] = {"query": src["sql"].get("query")}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
