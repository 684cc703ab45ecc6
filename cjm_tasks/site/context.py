"""What every page of the site is rendered from: the stored versions and the :class:`Site`.

:func:`load_versions` reads every complete version of the store once (its map and diff, parsed
and as stored bytes); :class:`Site` holds them by persona and period with the labels and number
formats of the configured language.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cjm_tasks import ids
from cjm_tasks.config import CjmConfig
from cjm_tasks.errors import CjmError
from cjm_tasks.site.labels import Formatter, labels_for
from cjm_tasks.versions.diff import PROPORTIONS
from cjm_tasks.versions.history import UNPLACED
from cjm_tasks.versions.store import VersionStore

class ReportError(CjmError):
    """The store holds something the site cannot show safely (e.g. a persona id that is no slug)."""


@dataclass(frozen=True)
class Version:
    """One stored version of a persona's map, with its stored bytes and parsed documents."""

    persona: str
    id: str
    period: str
    revision: int
    created_at: str | None
    doc: dict[str, Any]
    diff: dict[str, Any]
    map_bytes: bytes
    diff_bytes: bytes

    @property
    def folder(self) -> str:
        return f"personas/{self.persona}/{self.id}"

    @property
    def page(self) -> str:
        return f"{self.folder}/index.html"


def persona_page(persona: str) -> str:
    """The persona's page: every version of its map and every comparison published of it."""
    return f"personas/{persona}/index.html"


def load_versions(store: VersionStore) -> dict[str, list[Version]]:
    """Every complete version by persona, oldest first.

    Raises :class:`ReportError` for a persona id that is not a slug: it becomes a folder name.
    """
    out: dict[str, list[Version]] = {}
    for stored in store.list():
        try:
            ids.persona_id(stored.persona)
        except ids.IdError as exc:
            raise ReportError(f"persona folder in the store: {exc}; refusing to publish it") from None
        map_bytes = store.storage.read_bytes(f"{stored.prefix}/map.json")
        diff_bytes = store.storage.read_bytes(f"{stored.prefix}/diff.json")
        out.setdefault(stored.persona, []).append(Version(
            persona=stored.persona, id=str(stored.version), period=str(stored.version.period),
            revision=stored.version.revision or 1, created_at=stored.manifest.get("created_at"),
            doc=json.loads(map_bytes), diff=json.loads(diff_bytes), map_bytes=map_bytes, diff_bytes=diff_bytes,
        ))
    return out


def _persona_order(config: CjmConfig, personas: Iterable[str]) -> list[str]:
    """Configured order first, then personas only the store knows, and ``all`` last."""
    configured = [p.id for p in config.personas.personas]
    rank = {pid: i for i, pid in enumerate(configured)}
    return sorted(personas, key=lambda p: (p == "all", rank.get(p, len(rank)), p))


@dataclass
class Site:
    """What every page needs: labels, formats, and the versions by persona and period."""

    config: CjmConfig
    versions: dict[str, list[Version]]
    validations: dict[str, dict[str, Any]]
    t: dict[str, str] = field(init=False)
    fmt: Formatter = field(init=False)
    personas: list[str] = field(init=False)
    periods: list[str] = field(init=False)
    rates: set[str] = field(init=False)

    def __post_init__(self) -> None:
        language = self.config.project.language
        self.t, self.fmt = labels_for(language), Formatter(language)
        self.personas = _persona_order(self.config, self.versions)
        self.periods = sorted({v.period for vs in self.versions.values() for v in vs})
        # Rates are proportions: the configured ones, and those of maps built under an older configuration.
        self.rates = {r for s in self.config.stages for r in s.rates} | {
            r for vs in self.versions.values() for v in vs for s in v.doc["stages"] for r in s["metrics"].get("rates", {})}

    def in_period(self, persona: str, period: str) -> list[Version]:
        return [v for v in self.versions.get(persona, []) if v.period == period]

    def latest(self, persona: str, period: str) -> Version | None:
        found = self.in_period(persona, period)
        return found[-1] if found else None

    def persona_name(self, persona: str) -> str:
        """The name the persona's newest version gives it (its id when the site has no version of it)."""
        own = self.versions.get(persona)
        return own[-1].doc["persona"]["name"] if own else persona

    def find(self, persona: str, version_id: str | None) -> Version | None:
        return next((v for v in self.versions.get(persona, []) if v.id == version_id), None)

    def context(self, root: str, crumbs: list[tuple[str, str | None]]) -> dict[str, Any]:
        return {"t": self.t, "lang": self.config.project.language, "root": root, "site_name": self.config.project.name,
                "crumbs": [{"label": label, "href": href} for label, href in crumbs]}

    def metric_value(self, metric: str | None, value: float | None) -> str:
        """A metric's value as its readers expect it: proportions (funnel shares and configured
        rates) in %, NPS whole, sentiment and emotion signed."""
        fmt = self.fmt
        if metric in PROPORTIONS or metric in self.rates:
            return fmt.pct(value, 1 if value is not None and value < 0.1 else 0)
        if metric == "nps":
            return fmt.num(value, 0)
        if metric == "sentiment" or metric == "emotion":
            return fmt.signed(value)
        return fmt.num(value)

    def status_label(self, status: str) -> str:
        return self.t.get(f"status_{status}", status)

    def stage_names(self, doc: dict[str, Any]) -> dict[str, str]:
        """Stage id -> name in ``doc``, with ``unplaced`` (barriers whose texts came without a
        stage) as "not tied to a stage"."""
        return {UNPLACED: self.t["not_tied_to_stage"], **{s["id"]: s["name"] for s in doc["stages"]}}

    def note(self, entry: dict[str, Any]) -> str:
        """A diff entry's note in the site's language, from its ``note_code`` (an entry without
        a known code shows its English note as written)."""
        code = entry.get("note_code")
        return self.t.get(f"note_{code}") or entry.get("note") or ""
