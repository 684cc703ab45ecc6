"""Render the published static site from the version store.

:func:`build_site` returns every file of the site as ``{relative path: bytes}``; publishing
(writing it to a folder or an S3 prefix) is another module's job. The layout::

    index.html                                  every period and persona, latest highlights
    periods/<period>/index.html                 persona cards, changed barriers, data quality
    personas/<persona>/<version>/index.html     the map, what changed, barrier history
    personas/<persona>/<version>/map.json       the stored bytes
    personas/<persona>/<version>/diff.json      the stored bytes
    personas/<persona>/<version>/barriers.csv   one row per barrier, safe to open in a spreadsheet
    personas/<persona>/<version>/summary.md     what changed, to paste into an email or a chat

The site is self-contained so that it can be read from a folder, an S3 prefix or a zip without a
network: links are relative and point at ``index.html`` files (``file://`` does not resolve a
folder to its index), styles are inline and charts are SVG drawn here. There is no JavaScript.

Survey and review text (quotes, theme phrases) and configured names are untrusted. They reach
HTML only through Jinja2 autoescaping; the SVG built here escapes every text it embeds with
:func:`markupsafe.escape` before the chart is marked safe, and a quote's matched words are
wrapped in ``<mark>`` by :func:`marked`, which escapes the text before, inside and after them
one by one. Interface labels come from ``templates/labels.yaml`` in ``project.language``.

A lane whose input the map did not have (its ``data``: no sales, no surveys, no reviews for the
persona that quarter) says so instead of looking empty or failed; a map stored before maps
recorded this is read as having had every input and shows as it did then.

Nothing here infers meaning from a metric's name: which way a metric is better comes from the
map's ``directions`` and the diff's ``better``/``change``; which metrics are proportions from
the configured rates. Prevalences are shown as "N of M customers (x%)" with M the map's
``measures.denominator``, and where the texts were written beside them, never as their base.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from markupsafe import Markup, escape

from cjm_tasks.config import CjmConfig
from cjm_tasks.versions.diff import FLAGGED, PROPORTIONS, UNPLACED, active_barriers, barrier_history, to_markdown
from cjm_tasks.errors import CjmError
from cjm_tasks.site.render import TEMPLATES, render_template
from cjm_tasks.versions.store import VersionStore

LABELS_FILE = TEMPLATES / "labels.yaml"
LANGUAGES = ("en", "ru")
CSV_COLUMNS = ("stage", "id", "title", "kind", "severity", "change", "customers", "denominator", "unit", "prevalence",
               "metric", "value", "quote_1")
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BADGED = (*FLAGGED, "too_few")
SCORES = ("csat", "nps", "ces", "rating", "sentiment")
# The notes cjm_tasks.versions.diff writes (in English) and the labels that say them in the site's language.
_SLUG = re.compile(r"^[a-z0-9_-]+$")

SEVERITY_COLORS = {"high": "#c62828", "mid": "#ec8a1c", "low": "#e9bd3f"}
MOOD_COLORS = {"positive": "#2e9d5b", "mixed": "#d99a14", "negative": "#d64541"}
TRACK = "#e9ecf2"
INK = "#1d2330"
MUTED = "#5b6475"


class ReportError(CjmError):
    """The store holds something the site cannot show safely (e.g. a persona id that is no slug)."""


# ------------------------------------------------------------------------------ labels, formats


@lru_cache(maxsize=1)
def load_labels() -> dict[str, dict[str, str]]:
    """Every interface label by language, from ``templates/labels.yaml``."""
    data = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))
    return {lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LANGUAGES}


def labels_for(language: str) -> dict[str, str]:
    """The labels of ``language`` (``en`` or ``ru``)."""
    return load_labels()[language]


@dataclass(frozen=True)
class Formatter:
    """Numbers as a reader of ``language`` writes them (decimal comma and spaced % in Russian)."""

    language: str

    def _decimal(self, text: str) -> str:
        return text.replace(".", ",") if self.language == "ru" else text

    def count(self, value: int | float | None) -> str:
        if value is None:
            return "—"
        text = f"{round(value):,}"
        return text.replace(",", "\u202f") if self.language == "ru" else text

    def num(self, value: float | None, digits: int = 2) -> str:
        return "—" if value is None else self._decimal(f"{value:.{digits}f}")

    def signed(self, value: float | None, digits: int = 2) -> str:
        return "—" if value is None else self._decimal(f"{value:+.{digits}f}").replace("-", "−")

    def pct(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        if digits == 0 and 0 < abs(value) < 0.01:
            digits = 1  # "0%" for a real 0.4% reads as "never"
        text = self._decimal(f"{value * 100:.{digits}f}")
        return f"{text}\u00a0%" if self.language == "ru" else f"{text}%"

    def share(self, value: float | None) -> str:
        """A prevalence with the precision of :func:`cjm_tasks.versions.diff.measure_text` (one decimal,
        two below 0.1%), so the pages and the emailed summary show the same numbers."""
        return self.pct(value, 2 if value is not None and 0 < value < 0.001 else 1)

    def points(self, value: float | None) -> str:
        """A difference of two proportions in percentage points, signed: "+3.3" (a difference
        that rounds to nothing is "0.0", not "−0.0")."""
        if value is None:
            return "—"
        points = round(100 * value, 1)
        return self.num(0.0, 1) if points == 0 else self.signed(points, 1)


def _metric_value(site: Site, metric: str | None, value: float | None) -> str:
    """A metric's value as its readers expect it: proportions (funnel shares and configured
    rates) in %, NPS whole, sentiment and emotion signed."""
    fmt = site.fmt
    if metric in PROPORTIONS or metric in site.rates:
        return fmt.pct(value, 1 if value is not None and value < 0.1 else 0)
    if metric == "nps":
        return fmt.num(value, 0)
    if metric == "sentiment" or metric == "emotion":
        return fmt.signed(value)
    return fmt.num(value)


def _metric_label(t: dict[str, str], metric: str) -> str:
    return t.get(f"m_{metric}") or metric.replace("_", " ")


def _mood(emotion: float | None) -> str:
    if emotion is None:
        return "mixed"
    return "positive" if emotion >= 0.33 else "mixed" if emotion >= 0 else "negative"


def _title(barrier: dict[str, Any]) -> str:
    """A barrier's title; an emerging theme's is a raw phrase still to be named, so it is quoted."""
    return f"“{barrier['title']}”" if barrier.get("kind") == "emerging" else barrier["title"]


def _severity_band(severity: int | None) -> str:
    severity = severity or 0
    return "high" if severity >= 70 else "mid" if severity >= 40 else "low"


# ------------------------------------------------------------------------------ charts (SVG)


def _n(value: float) -> str:
    """A compact SVG coordinate."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, body: Iterable[str], label: str, css: str) -> Markup:
    """Wrap trusted SVG elements; ``label`` (maybe untrusted) is escaped here."""
    return Markup(f'<svg class="{css}" viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{escape(label)}">'
                  f'<title>{escape(label)}</title>{"".join(body)}</svg>')


def bar_svg(fraction: float | None, color: str, label: str) -> Markup:
    """A thin horizontal bar filled to ``fraction`` (0..1): severity, channel share."""
    width = 100 * min(1.0, max(0.0, fraction or 0.0))
    body = [f'<rect width="100" height="8" rx="4" fill="{TRACK}"/>']
    if width > 0:
        body.append(f'<rect width="{_n(max(width, 3))}" height="8" rx="4" fill="{color}"/>')
    return Markup(f'<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
                  f'{"".join(body)}</svg>')


def severity_svg(severity: int, label: str) -> Markup:
    return bar_svg(severity / 100, SEVERITY_COLORS[_severity_band(severity)], label)


def sparkline_svg(values: Sequence[float | None], low: float, high: float, label: str,
                  zero: bool = False, width: float = 120, height: float = 32) -> Markup:
    """Values as a small line; None leaves a gap. ``zero`` draws the zero line (emotion)."""
    pad = 5
    step = (width - 2 * pad) / max(1, len(values) - 1)
    xs = [width / 2] if len(values) == 1 else [pad + i * step for i in range(len(values))]

    def y(v: float) -> float:
        return pad + (1 - (min(high, max(low, v)) - low) / (high - low)) * (height - 2 * pad)

    base = _n(y(0 if zero else low))
    dash = ' stroke-dasharray="3 3"' if zero else ""
    body = [f'<line x1="0" x2="{_n(width)}" y1="{base}" y2="{base}" stroke="#c7ccd6" stroke-width="1"{dash}/>']
    run: list[str] = []
    for x, v in [*zip(xs, values), (None, None)]:
        if v is None:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{INK}" stroke-width="1.6" stroke-linejoin="round"/>')
            run = []
            continue
        run.append(f"{_n(x)},{_n(y(v))}")
    present = [(x, v) for x, v in zip(xs, values) if v is not None]
    for i, (x, v) in enumerate(present):
        last = i == len(present) - 1
        color = MOOD_COLORS[_mood(v)] if zero else SEVERITY_COLORS[_severity_band(int(v))]
        body.append(f'<circle cx="{_n(x)}" cy="{_n(y(v))}" r="{3.4 if last else 2.4}" fill="{color}"/>')
    return _svg(width, height, body, label, "spark")


def emotion_segment_svg(previous: float | None, value: float | None, following: float | None, label: str) -> Markup:
    """This stage's piece of the map's emotion lane.

    Each piece runs from the gap before the column to the gap after it, meeting its neighbours
    at the mean of the two values, so the pieces of all columns join into one curve while every
    stage keeps its own cell (and the cells can stack on a phone).
    """
    height, pad = 76, 10

    def y(v: float) -> str:
        return _n(pad + (1 - max(-1.0, min(1.0, v))) / 2 * (height - 2 * pad))

    body = [f'<line x1="0" x2="100%" y1="{y(0)}" y2="{y(0)}" stroke="#c7ccd6" stroke-dasharray="4 4"/>']
    if value is not None:
        for edge, other in (("0", previous), ("100%", following)):
            if other is not None:
                body.append(f'<line x1="{edge}" y1="{y((value + other) / 2)}" x2="50%" y2="{y(value)}" stroke="{INK}" stroke-width="2.2" stroke-linecap="round"/>')
        body.append(f'<circle cx="50%" cy="{y(value)}" r="6.5" fill="{MOOD_COLORS[_mood(value)]}" stroke="#fff" stroke-width="2"/>')
    return Markup(f'<svg class="seg" height="{height}" role="img" aria-label="{escape(label)}">{"".join(body)}</svg>')


def _wrap(text: str, width: int, lines: int = 2) -> list[str]:
    """Split a label into at most ``lines`` lines of about ``width`` characters (SVG has no wrap)."""
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    if len(out) > lines:
        out = out[: lines - 1] + [" ".join(out[lines - 1:])]
    return [line if len(line) <= width + 4 else line[: width + 2] + "…" for line in out] or [""]


def emotion_curve_svg(points: Sequence[tuple[str, float | None]], fmt: Formatter, label: str) -> Markup:
    """The persona's emotion across the stages, with the zero line and +1 / −1 bands."""
    width, top, bottom, left, right = 720, 22, 172, 34, 712
    column = (right - left) / max(1, len(points))

    def y(v: float) -> float:
        return top + (1 - max(-1.0, min(1.0, v))) / 2 * (bottom - top)

    body = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{_n(y(0) - top)}" fill="#eef8f1"/>',
            f'<rect x="{left}" y="{_n(y(0))}" width="{right - left}" height="{_n(bottom - y(0))}" fill="#fdf0ef"/>']
    for v, text in ((1, "+1"), (0, "0"), (-1, "−1")):
        dash = ' stroke-dasharray="4 4"' if v == 0 else ""
        body.append(f'<line x1="{left}" x2="{right}" y1="{_n(y(v))}" y2="{_n(y(v))}" stroke="#c7ccd6"{dash}/>')
        body.append(f'<text x="{left - 6}" y="{_n(y(v) + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">{text}</text>')
    xs = [left + (i + 0.5) * column for i in range(len(points))]
    run: list[str] = []
    for x, (_, v) in [*zip(xs, points), (0.0, ("", None))]:
        if v is None:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{INK}" stroke-width="2.4" stroke-linejoin="round"/>')
            run = []
        else:
            run.append(f"{_n(x)},{_n(y(v))}")
    for x, (name, v) in zip(xs, points):
        if v is not None:
            above = y(v) - 12 if v < 0.75 else y(v) + 22
            body.append(f'<circle cx="{_n(x)}" cy="{_n(y(v))}" r="7" fill="{MOOD_COLORS[_mood(v)]}" stroke="#fff" stroke-width="2"/>')
            body.append(f'<text x="{_n(x)}" y="{_n(above)}" text-anchor="middle" font-size="12" font-weight="600" fill="{INK}">{escape(fmt.signed(v))}</text>')
        for i, line in enumerate(_wrap(name, max(8, int(column / 7.5)))):
            body.append(f'<text x="{_n(x)}" y="{bottom + 20 + 15 * i}" text-anchor="middle" font-size="12.5" fill="{INK}">{escape(line)}</text>')
    lines = max((len(_wrap(name, max(8, int(column / 7.5)))) for name, _ in points), default=1)
    return _svg(width, bottom + 12 + 15 * lines + 8, body, label, "chart")


def emotion_column_svg(points: Sequence[tuple[str, float | None]], fmt: Formatter, label: str) -> Markup:
    """The emotion curve turned upright for a phone: stages down the side, emotion across."""
    width, row, top, left, right = 360, 40, 26, 150, 348

    def x(v: float) -> float:
        return left + (max(-1.0, min(1.0, v)) + 1) / 2 * (right - left)

    height = top + row * len(points) + 4
    body = [f'<rect x="{left}" y="{top - 6}" width="{_n(x(0) - left)}" height="{height - top + 2}" fill="#fdf0ef"/>',
            f'<rect x="{_n(x(0))}" y="{top - 6}" width="{_n(right - x(0))}" height="{height - top + 2}" fill="#eef8f1"/>']
    for v, text in ((-1, "−1"), (0, "0"), (1, "+1")):
        dash = ' stroke-dasharray="4 4"' if v == 0 else ""
        body.append(f'<line x1="{_n(x(v))}" x2="{_n(x(v))}" y1="{top - 6}" y2="{height - 4}" stroke="#c7ccd6"{dash}/>')
        anchor = "start" if v < 0 else "end" if v > 0 else "middle"
        body.append(f'<text x="{_n(x(v))}" y="{top - 12}" text-anchor="{anchor}" font-size="11" fill="{MUTED}">{text}</text>')
    ys = [top + (i + 0.5) * row for i in range(len(points))]
    run: list[str] = []
    for y, (_, v) in [*zip(ys, points), (0.0, ("", None))]:
        if v is None:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{INK}" stroke-width="2.2" stroke-linejoin="round"/>')
            run = []
        else:
            run.append(f"{_n(x(v))},{_n(y)}")
    for y, (name, v) in zip(ys, points):
        body.append(f'<text x="0" y="{_n(y + 4.5)}" font-size="13" fill="{INK}">{escape(_wrap(name, 19, 1)[0])}</text>')
        if v is not None:
            side, anchor = (x(v) - 11, "end") if v > 0.2 else (x(v) + 11, "start")
            body.append(f'<circle cx="{_n(x(v))}" cy="{_n(y)}" r="6.5" fill="{MOOD_COLORS[_mood(v)]}" stroke="#fff" stroke-width="2"/>')
            body.append(f'<text x="{_n(side)}" y="{_n(y + 4.5)}" text-anchor="{anchor}" font-size="12" font-weight="600" fill="{INK}">{escape(fmt.signed(v))}</text>')
    return _svg(width, height, body, label, "chart")


def funnel_svg(rows: Sequence[tuple[str, float | None, float | None]], t: dict[str, str], fmt: Formatter, label: str,
               narrow: bool = False) -> Markup:
    """Reached share per stage as bars, with the share that goes on to the next stage.

    ``narrow`` (a phone) puts each stage's name above its bar instead of beside it.
    """
    width, row, bar_x, bar_w, text_y, bar_y = (360, 46, 0, 360, 13, 20) if narrow else (600, 36, 178, 262, 17, 4)
    body = []
    for i, (name, reached, conversion) in enumerate(rows):
        y = 6 + i * row
        if narrow:
            body.append(f'<text x="0" y="{y + text_y}" font-size="13" fill="{INK}">{escape(_wrap(name, 24, 1)[0])}</text>')
        else:
            body.append(f'<text x="{bar_x - 10}" y="{y + text_y}" text-anchor="end" font-size="13" fill="{INK}">{escape(_wrap(name, 24, 1)[0])}</text>')
        body.append(f'<rect x="{bar_x}" y="{y + bar_y}" width="{bar_w}" height="18" rx="4" fill="{TRACK}"/>')
        fill = bar_w * min(1.0, max(0.0, reached or 0.0))
        if fill > 0:
            body.append(f'<rect x="{bar_x}" y="{y + bar_y}" width="{_n(max(fill, 4))}" height="18" rx="4" fill="#3f6ad8"/>')
        inside = fill > 48
        body.append(f'<text x="{_n(bar_x + fill - 6 if inside else bar_x + fill + 6)}" y="{y + bar_y + 13.5}" font-size="12" font-weight="600" '
                    f'text-anchor="{"end" if inside else "start"}" fill="{"#fff" if inside else INK}">{escape(fmt.pct(reached))}</text>')
        if conversion is not None:
            go_on = escape("↳ " + t["go_on"].format(share=fmt.pct(conversion)))
            where = f'x="{width}" y="{y + text_y}" text-anchor="end"' if narrow else f'x="{bar_x + bar_w + 12}" y="{y + text_y + .5}"'
            body.append(f'<text {where} font-size="12" fill="{MUTED}">{go_on}</text>')
    return _svg(width, 10 + len(rows) * row, body, label, "chart")


# ------------------------------------------------------------------------------ loading


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


def load_versions(store: VersionStore) -> dict[str, list[Version]]:
    """Every complete version by persona, oldest first.

    Raises :class:`ReportError` for a persona id that is not a slug: it becomes a folder name.
    """
    out: dict[str, list[Version]] = {}
    for stored in store.list():
        if not _SLUG.match(stored.persona):
            raise ReportError(f"persona folder {stored.persona!r} in the store is not a slug ([a-z0-9_-]+); refusing to publish it")
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


# ------------------------------------------------------------------------------ the site


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

    def find(self, persona: str, version_id: str | None) -> Version | None:
        return next((v for v in self.versions.get(persona, []) if v.id == version_id), None)

    def context(self, root: str, crumbs: list[tuple[str, str | None]]) -> dict[str, Any]:
        return {"t": self.t, "lang": self.config.project.language, "root": root, "site_name": self.config.project.name,
                "crumbs": [{"label": label, "href": href} for label, href in crumbs]}

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


def build_site(store: VersionStore, config: CjmConfig, validations: dict[str, dict] | None = None) -> dict[str, bytes]:
    """The whole static site for every stored version, as ``{relative path: bytes}``.

    ``validations``: ``{period: validation.json as a dict}``; a period without one shows its
    data quality as not available. Raises :class:`ReportError` when the store holds a persona
    id that cannot be a folder name, and the store's errors when a file cannot be read.
    """
    site = Site(config, load_versions(store), {str(k): v for k, v in (validations or {}).items()})
    files: dict[str, bytes] = {"index.html": render_index(site).encode("utf-8")}
    for period in site.periods:
        files[f"periods/{period}/index.html"] = render_period(site, period).encode("utf-8")
    for persona in site.personas:
        # From the versions already loaded: store.history() would read every map and diff again.
        history = barrier_history([(v.id, v.doc, v.diff) for v in site.versions[persona]])
        for version in site.versions[persona]:
            files[version.page] = render_persona(site, version, history).encode("utf-8")
            files[f"{version.folder}/map.json"] = version.map_bytes
            files[f"{version.folder}/diff.json"] = version.diff_bytes
            files[f"{version.folder}/barriers.csv"] = barriers_csv(version.doc, version.diff)
            files[f"{version.folder}/summary.md"] = to_markdown(version.diff).encode("utf-8")
    return files


# ------------------------------------------------------------------------------ shared views


def _statuses(diff: dict[str, Any]) -> dict[str, str]:
    """Change status of every barrier the diff knows (catalog, metric and emerging), by id."""
    return {b["id"]: b["status"] for b in diff.get("barriers", [])}


def _status(site: Site, entry: dict[str, Any], persona: str, root: str) -> dict[str, Any]:
    """A diff entry's status for a badge: "returned" says when it was last seen, with a link."""
    status = entry["status"]
    seen = entry.get("last_seen") if status == "returned" else None
    found = site.find(persona, seen) if seen else None
    return {"status": status, "label": site.status_label(status), "last_seen": seen or "",
            "last_seen_label": site.t["last_seen"].format(version=seen) if seen else "",
            "last_seen_href": f"{root}{found.page}" if found else None}


def _change_measure(site: Site, entry: dict[str, Any]) -> str:
    """The numbers behind a diff entry's status, in the site's language: "3.1% → 6.4% of
    customers (12 → 25), +3.3 points (95% CI +1.9 to +4.7)". For barriers counted in customers
    or texts it is, in English, the text of :func:`cjm_tasks.versions.diff.measure_text` (with a proper
    minus sign and thousands separators, and "≤" before a count that is only a bound); a metric
    barrier's value is formatted like the metric ("Failed payments 7.4% → 22%")."""
    t, fmt = site.t, site.fmt
    a, z = entry.get("evidence_from"), entry.get("evidence_to") or {}
    effect = entry.get("effect") or {}
    if entry["kind"] == "metric":
        metric = entry.get("metric")
        values = {"from": _metric_value(site, metric, entry.get("value_from")), "to": _metric_value(site, metric, entry.get("value_to"))}
        text = t["metric_change" if a else "metric_now"].format(metric=_metric_label(t, metric or ""), **values)
        # Rates and funnel shares are compared as proportions: their effect is in points.
        proportion = metric in PROPORTIONS or metric in site.rates
    else:
        unit = t[f"unit_{z.get('unit') or (a or {}).get('unit') or 'customers'}"]
        # A theme not measured in a version holds the most it could have been there: a bound.
        count = lambda side: ("≤" if side.get("bound") else "") + fmt.count(side.get("customers"))  # noqa: E731
        if a:
            text = t["prevalence_change"].format(unit=unit, a=count(a), b=count(z),
                                                 **{"from": fmt.share(entry.get("value_from")), "to": fmt.share(entry.get("value_to"))})
        else:
            text = t["prevalence_now"].format(unit=unit, b=count(z), to=fmt.share(entry.get("value_to")))
        proportion = True
    if proportion and effect.get("difference") is not None and effect.get("low") is not None:
        text += ", " + t["effect_points"].format(difference=fmt.points(effect["difference"]), low=fmt.points(effect["low"]),
                                                 high=fmt.points(effect["high"]))
    return text


def _flagged_rows(site: Site, version: Version, root: str) -> list[dict[str, Any]]:
    """The version's flagged barrier changes, for tables across personas."""
    names = site.stage_names(version.doc)
    return [{
        "persona": version.doc["persona"]["name"], "persona_id": version.persona, "href": f"{root}{version.page}",
        "stage": names.get(b["stage"], b["stage"]), "id": b["id"], "title": _title(b), **_status(site, b, version.persona, root),
        "severity": _from_to(b["severity_from"], b["severity_to"]), "measure": _change_measure(site, b), "note": _useful_note(site, b),
    } for b in version.diff.get("barriers", []) if b["flagged"]]


def _useful_note(site: Site, entry: dict[str, Any]) -> str:
    """An entry's note in the site's language; "first version", on every entry of a first
    diff, says nothing the heading does not."""
    return site.note(entry) if entry.get("note") and entry.get("note_code") != "first_version" else ""


def _from_to(before: Any, after: Any) -> str:
    return f"{'—' if before is None else before} → {'—' if after is None else after}"


def _top_barriers(site: Site, version: Version, root: str, limit: int) -> list[dict[str, Any]]:
    names = site.stage_names(version.doc)
    rows = []
    for b in version.doc["summary"]["top_barriers"][:limit]:
        label = site.t["severity_of"].format(n=b["severity"])
        rows.append({"title": _title(b), "stage": names.get(b["stage"], b["stage"]), "severity": b["severity"],
                     "band": _severity_band(b["severity"]), "svg": severity_svg(b["severity"], label),
                     "persona": version.doc["persona"]["name"], "href": f"{root}{version.page}"})
    return rows


def _change_counts(site: Site, diff: dict[str, Any]) -> list[dict[str, Any]]:
    """Badges of the flagged changes by status, and one "too few to tell" when the diff could not compare."""
    counts = diff.get("counts", {})
    badges = [{"status": s, "label": site.status_label(s), "n": counts[s]} for s in FLAGGED if counts.get(s)]
    if diff.get("too_few"):
        badges.append({"status": "too_few", "label": site.status_label("too_few"), "n": None})
    return badges


def _too_few(site: Site, doc: dict[str, Any]) -> dict[str, str] | None:
    """The notice for a persona with fewer active customers than the detection needs, else None."""
    measures = doc.get("measures") or {}
    if not (measures.get("too_few") or doc["summary"].get("too_few")):
        return None
    t, fmt = site.t, site.fmt
    return {"title": t["too_few_customers"].format(n=fmt.count(measures.get("min_customers"))),
            "note": t["too_few_customers_note"].format(n=fmt.count(measures.get("denominator")),
                                                       unit=t[f"unit_{measures.get('unit') or 'customers'}"])}


def _gaps(site: Site, doc: dict[str, Any]) -> dict[str, Any]:
    """What the pages say about the inputs ``doc`` had no rows of: a sentence each for the
    notice (``notes``), short labels (``labels``), and the label of the sales lanes (``sales``)
    and of the lanes fed by surveys or reviews (``feedback``), None where the data was there."""
    t, data = site.t, doc.get("data") or {}
    has = {kind: bool(data.get(kind, True)) for kind in ("sales", "surveys", "reviews")}
    notes = {"sales": t["no_sales_data"], "surveys": t["no_survey_data"], "reviews": t["no_review_data"]}
    labels = {"sales": t["nodata_sales"], "surveys": t["nodata_surveys"], "reviews": t["nodata_reviews"]}
    missing = [kind for kind, present in has.items() if not present]
    return {"notes": [notes[k] for k in missing], "labels": [labels[k] for k in missing],
            "sales": None if has["sales"] else labels["sales"],
            "feedback": None if has["surveys"] or has["reviews"] else t["nodata_feedback"]}


def _quality(site: Site, period: str) -> dict[str, Any] | None:
    """The data-quality summary of a period from its validation.json, None when there is none."""
    result = site.validations.get(period)
    if not result:
        return None
    sources = []
    failures = []
    for name, src in (result.get("sources") or {}).items():
        checks = src.get("checks") or []
        failed = [c for c in checks if not c.get("success")]
        sources.append({"name": name, "rows": site.fmt.count(src.get("rows")), "outside": site.fmt.count(src.get("rows_outside_period")),
                        "checks": len(checks), "failed": len(failed), "success": bool(src.get("success", not failed))})
        failures += [{"source": name, "column": c.get("column") or "", "description": c.get("description") or c.get("kind") or "",
                      "error": c.get("error")} for c in failed]
    return {"success": bool(result.get("success")), "created_at": result.get("created_at"),
            "summary": site.t["checks_summary"].format(checks=result.get("checks", 0), failed=result.get("failed", 0)),
            "sources": sources, "failures": failures[:20]}


# ------------------------------------------------------------------------------ index page


def render_index(site: Site) -> str:
    """``index.html``: latest highlights and a link to every published version."""
    root = ""
    latest_period = site.periods[-1] if site.periods else None
    latest = [v for p in site.personas if latest_period and (v := site.latest(p, latest_period))]
    top = sorted((row for v in latest for row in _top_barriers(site, v, root, 3)), key=lambda r: -r["severity"])[:8]
    table = []
    for period in reversed(site.periods):
        cells = []
        for persona in site.personas:
            found = site.in_period(persona, period)
            cells.append({"latest": {"id": found[-1].id, "href": found[-1].page, "counts": _change_counts(site, found[-1].diff)} if found else None,
                          "older": [{"id": v.id, "href": v.page} for v in reversed(found[:-1])]})
        quality = _quality(site, period)
        table.append({"period": period, "href": f"periods/{period}/index.html", "cells": cells, "quality": quality})
    heads = []
    for persona in site.personas:
        doc = site.versions[persona][-1].doc
        heads.append({"name": doc["persona"]["name"], "description": doc["persona"]["description"]})
    return render_template(
        "index.html.j2", **site.context(root, [(site.t["home"], None)]),
        latest_period=latest_period, latest_href=f"periods/{latest_period}/index.html" if latest_period else None,
        top=top, flagged=[row for v in latest for row in _flagged_rows(site, v, root)], heads=heads, table=table,
    )


# ------------------------------------------------------------------------------ period page


def render_period(site: Site, period: str) -> str:
    """``periods/<period>/index.html``: persona cards, changed barriers, data quality."""
    root = "../../"
    t, fmt = site.t, site.fmt
    cards, flagged = [], []
    for persona in site.personas:
        version = site.latest(persona, period)
        if version is None:
            continue
        doc = version.doc
        names = site.stage_names(doc)
        curve = [s["metrics"].get("emotion") for s in doc["stages"]]
        lowest = doc["summary"].get("lowest_stage")
        cards.append({
            "name": doc["persona"]["name"], "description": doc["persona"]["description"], "href": f"{root}{version.page}",
            "id": version.id, "customers": fmt.count(doc["persona"]["customers"]), "too_few": _too_few(site, doc),
            "missing": _gaps(site, doc)["labels"],
            "barriers": doc["summary"]["barriers"]["total"],
            "emotion_svg": sparkline_svg(curve, -1, 1, f"{t['emotion']}: " + ", ".join(f"{names[s['id']]} {fmt.signed(v)}" for s, v in zip(doc["stages"], curve)),
                                         zero=True, width=180, height=40),
            "lowest": names.get(lowest, lowest) if lowest else None,
            "top": _top_barriers(site, version, root, 3), "counts": _change_counts(site, version.diff),
            "older": [{"id": v.id, "href": f"{root}{v.page}"} for v in site.in_period(persona, period)[:-1]],
        })
        flagged += _flagged_rows(site, version, root)
    index = site.periods.index(period)
    neighbours = {"previous": site.periods[index - 1] if index else None,
                  "next": site.periods[index + 1] if index + 1 < len(site.periods) else None}
    first = next((v.doc for p in site.personas if (v := site.latest(p, period))), None)
    dates = t["period_dates"].format(start=first["period_start"][:10], end=_last_day(first["period_end"])) if first else ""
    return render_template(
        "period.html.j2", **site.context(root, [(t["home"], f"{root}index.html"), (period, None)]),
        period=period, dates=dates, cards=cards, flagged=flagged, quality=_quality(site, period),
        neighbours={k: {"id": p, "href": f"{root}periods/{p}/index.html"} if p else None for k, p in neighbours.items()},
    )


def _last_day(end: str) -> str:
    """The last calendar day of a period from its exclusive end instant."""
    from datetime import date, timedelta

    return (date.fromisoformat(end[:10]) - timedelta(days=1)).isoformat()


# ------------------------------------------------------------------------------ persona page


def render_persona(site: Site, version: Version, history: dict[str, dict[str, Any]]) -> str:
    """``personas/<persona>/<version>/index.html``: the map, what changed, barrier history."""
    root = "../../../"
    t, fmt, doc = site.t, site.fmt, version.doc
    names = site.stage_names(doc)
    own = site.versions[version.persona]
    position = own.index(version)
    previous = site.find(version.persona, version.diff.get("from"))
    stages = _stage_views(site, version)
    emotion = [(s["name"], s["metrics"].get("emotion")) for s in doc["stages"]]
    curve_label = f"{t['emotion_curve']}: " + ", ".join(f"{n} {fmt.signed(v)}" for n, v in emotion)
    funnel = [(s["name"], s["metrics"].get("reached_share"), s["metrics"].get("conversion_to_next")) for s in doc["stages"]]
    summary, measures = doc["summary"], doc.get("measures") or {}
    lowest = summary.get("lowest_stage")
    kpis = [(t["customers"], fmt.count(doc["persona"]["customers"])), (t["texts"], fmt.count(measures.get("texts", summary["texts"]))),
            (t["barriers"], fmt.count(summary["barriers"]["total"]))]
    if lowest:
        kpis.append((t["lowest_stage"], names.get(lowest, lowest)))
    statuses = _statuses(version.diff)
    gaps = _gaps(site, doc)
    unplaced = {"barriers": [_barrier_view(site, b, names, statuses.get(b["id"], "unchanged")) for b in doc.get("unplaced", [])],
                "resolved": _resolved(site, version.diff, UNPLACED)}
    return render_template(
        "persona.html.j2",
        **site.context(root, [(t["home"], f"{root}index.html"), (version.period, f"{root}periods/{version.period}/index.html"),
                              (doc["persona"]["name"], None)]),
        persona=doc["persona"], version=version.id, period=version.period, revision=t["revision_of"].format(n=version.revision),
        dates=t["period_dates"].format(start=doc["period_start"][:10], end=_last_day(doc["period_end"])),
        kpis=[{"label": k, "value": v} for k, v in kpis], too_few=_too_few(site, doc), prevalence_note=_prevalence_note(site, measures),
        no_data={"title": t["no_data_title"], "notes": gaps["notes"]} if gaps["notes"] else None,
        no_sales=gaps["sales"], no_feedback=gaps["feedback"],
        counts=_change_counts(site, version.diff),
        emotion_svg=emotion_curve_svg(emotion, fmt, curve_label),
        emotion_narrow_svg=emotion_column_svg(emotion, fmt, curve_label),
        funnel_svg=funnel_svg(funnel, t, fmt, t["funnel"]),
        funnel_narrow_svg=funnel_svg(funnel, t, fmt, t["funnel"], narrow=True),
        stages=stages, unplaced=unplaced,
        changes=_changes(site, version, previous, root),
        history=_history_rows(site, version, own[: position + 1], history),
        versions=[{"id": v.id, "href": f"{root}{v.page}", "current": v is version} for v in own],
        previous={"id": own[position - 1].id, "href": f"{root}{own[position - 1].page}"} if position else None,
        following={"id": own[position + 1].id, "href": f"{root}{own[position + 1].page}"} if position + 1 < len(own) else None,
        others=[{"name": v.doc["persona"]["name"], "href": f"{root}{v.page}"} for p in site.personas
                if p != version.persona and (v := site.latest(p, version.period))],
        lineage=_lineage(version),
    )


def _prevalence_note(site: Site, measures: dict[str, Any]) -> str:
    """What every "N of M" on the page is a share of."""
    if not measures.get("denominator"):
        return ""
    t, fmt = site.t, site.fmt
    if measures.get("unit") == "texts":
        return t["prevalence_note_texts"].format(n=fmt.count(measures["denominator"]))
    note = t["prevalence_note_customers"].format(n=fmt.count(measures["denominator"]), writers=fmt.count(measures.get("writers")),
                                                 texts=fmt.count(measures.get("texts")))
    if measures.get("anonymous_texts"):
        note += " " + t["prevalence_note_anonymous"].format(n=fmt.count(measures["anonymous_texts"]))
    return note


def _stage_views(site: Site, version: Version) -> list[dict[str, Any]]:
    """One column of the map per stage, every value formatted and labelled."""
    t, fmt, doc, diff = site.t, site.fmt, version.doc, version.diff
    names = site.stage_names(doc)
    statuses = _statuses(diff)
    gaps = _gaps(site, doc)
    emotions = [s["metrics"].get("emotion") for s in doc["stages"]]
    views = []
    for i, stage in enumerate(doc["stages"]):
        metrics = stage["metrics"]
        value = emotions[i]
        mood = _mood(value)
        views.append({
            "id": stage["id"], "name": stage["name"], "goal": stage.get("goal"),
            "loops_to": t["loops_to"].format(stages=", ".join(names.get(s, s) for s in stage["loops_to"])) if stage["loops_to"] else None,
            "reached": t["reached"].format(share=fmt.pct(metrics.get("reached_share"))) if metrics.get("reached_share") is not None else None,
            "go_on": t["go_on"].format(share=fmt.pct(metrics.get("conversion_to_next"))) if metrics.get("conversion_to_next") is not None else None,
            "touchpoints": [{"channel": tp["channel"], "share": fmt.pct(tp["share"]), "events": fmt.count(tp["events"]),
                             "svg": bar_svg(tp["share"], "#3f6ad8", t["share_of_events"].format(share=fmt.pct(tp["share"])))}
                            for tp in stage["touchpoints"]],
            "actions": [{"name": a["event_type"].replace("_", " "),
                         "detail": t["action_counts"].format(events=fmt.count(a["events"]), customers=fmt.count(a["customers"]))}
                        for a in stage["actions"]],
            "no_sales": gaps["sales"], "no_feedback": gaps["feedback"], "gaps": gaps["labels"],
            "emotion": {"value": fmt.signed(value), "mood": mood, "mood_label": t[f"mood_{mood}"] if value is not None else "",
                        "svg": emotion_segment_svg(emotions[i - 1] if i else None, value, emotions[i + 1] if i + 1 < len(emotions) else None,
                                                   f"{t['emotion']} {fmt.signed(value)}")},
            "metrics": _metric_rows(site, stage),
            "barriers": [_barrier_view(site, b, names, statuses.get(b["id"], "unchanged")) for b in stage["barriers"]],
            "resolved": _resolved(site, diff, stage["id"]),
            # Nothing found where few answered means nothing is known, not that all is well.
            # Without any survey or review no text barrier could have been found either.
            "empty": gaps["feedback"] or (t["too_few_answers"] if stage.get("too_few") else t["no_barriers"]),
            "expect": [{"phrase": th["phrase"], "texts": th["texts"]} for th in stage["themes"]["positive"]],
            "fear": [{"phrase": th["phrase"], "texts": th["texts"]} for th in stage["themes"]["negative"]],
            "opportunities": [{"title": o["title"], "action": o["action"], "priority": t["opportunity_priority"].format(n=o["priority"])}
                              for o in stage["opportunities"]],
        })
    return views


def _resolved(site: Site, diff: dict[str, Any], stage_id: str) -> list[dict[str, Any]]:
    """The barriers of a stage (or ``unplaced``) that the diff resolved: shown where they were."""
    return [{"id": b["id"], "title": _title(b), "status": "resolved", "status_label": site.status_label("resolved"),
             "note": site.t["resolved_was"].format(n=b["severity_from"]), "measure": _change_measure(site, b)}
            for b in diff.get("barriers", []) if b["status"] == "resolved" and b["stage"] == stage_id]


def _metric_rows(site: Site, stage: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's measured metrics with sample sizes, each with its ideal-path target when the
    stage declares one (the funnel shares only then: the stage header shows them already)."""
    t, fmt = site.t, site.fmt
    metrics, scales = stage["metrics"], site.config.metrics.scales
    ideal = {row["metric"]: row for row in stage.get("ideal", [])}
    rows = []
    for name in (*PROPORTIONS, *SCORES, *metrics.get("rates", {}), *ideal):
        if any(r["name"] == name for r in rows):
            continue
        rate = metrics.get("rates", {}).get(name)
        value = rate["value"] if rate else metrics.get(name, ideal.get(name, {}).get("actual"))
        if value is None or (name in PROPORTIONS and name not in ideal):
            continue
        scale = (1, 5) if name == "rating" else scales.get(name)
        of = f" / {fmt.num(scale[1], 0)}" if scale and name != "nps" else ""
        if rate:
            detail = t["rate_counts"].format(numerator=fmt.count(rate["numerator"]), denominator=fmt.count(rate["denominator"]))
        else:
            detail = t["sample_size"].format(n=fmt.count(metrics.get("samples", {}).get(name, 0)))
        target = ideal.get(name)
        rows.append({"name": name, "label": _metric_label(t, name), "value": _metric_value(site, name, value) + of, "detail": detail,
                     "target": t["target"].format(value=_metric_value(site, name, target["target"])) if target else None,
                     "met": target["met"] if target else None,
                     "met_label": (t["met"] if target["met"] else t["not_met"]) if target and target["met"] is not None else ""})
    return rows


def _barrier_view(site: Site, barrier: dict[str, Any], names: dict[str, str], status: str) -> dict[str, Any]:
    t = site.t
    severity = barrier["severity"]
    return {
        "id": barrier["id"], "title": _title(barrier), "kind": barrier["kind"], "kind_label": t[f"kind_{barrier['kind']}"],
        "severity": severity, "band": _severity_band(severity),
        "svg": severity_svg(severity, t["severity_of"].format(n=severity)),
        "status": status, "status_label": site.status_label(status), "badge": status in BADGED,
        "evidence": _evidence(site, barrier, names),
        "quotes": [_quote(site, q) for q in barrier["quotes"][:3]],
    }


def _quote(site: Site, quote: dict[str, Any]) -> dict[str, Any]:
    via = quote.get("via")
    return {"html": marked(str(quote.get("text") or ""), quote.get("match")), "source": quote.get("source") or "",
            "date": quote.get("date") or "", "via": site.t.get(f"via_{via}", "") if via else ""}


def marked(text: str, match: Any) -> Markup:
    """``text`` as HTML with the matched words, ``match`` = [start, end) character offsets, in
    ``<mark>``. The three pieces are escaped one by one (the text is untrusted); offsets that do
    not fit the text leave it unmarked."""
    if (isinstance(match, (list, tuple)) and len(match) == 2
            and all(isinstance(i, int) and not isinstance(i, bool) for i in match) and 0 <= match[0] < match[1] <= len(text)):
        start, end = match
        return Markup("{}<mark>{}</mark>{}").format(text[:start], text[start:end], text[end:])
    return escape(text)


def _evidence(site: Site, barrier: dict[str, Any], names: dict[str, str]) -> list[dict[str, str]]:
    """The numbers behind a barrier, as short lines a reader can check (``title``: a detail
    shown on hover, such as the interval)."""
    t, fmt = site.t, site.fmt
    ev = barrier.get("evidence", {})
    if barrier["kind"] == "metric":
        metric = ev.get("metric")
        op = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}.get(ev.get("op"), ev.get("op") or "")
        lines = [{"text": t["metric_evidence"].format(metric=_metric_label(t, metric or ""), value=_metric_value(site, metric, ev.get("value")),
                                                      op=op, limit=_metric_value(site, metric, ev.get("threshold")))}]
        if ev.get("numerator") is not None:
            lines.append({"text": t["rate_counts"].format(numerator=fmt.count(ev["numerator"]), denominator=fmt.count(ev.get("denominator")))})
        elif ev.get("samples") is not None:
            lines.append({"text": t["sample_size"].format(n=fmt.count(ev["samples"]))})
        return [{"title": "", **line} for line in lines]
    interval = ev.get("interval")
    lines = [{"text": t["mentioned_texts" if ev.get("unit") == "texts" else "mentioned_customers"].format(
                 n=fmt.count(ev.get("customers")), total=fmt.count(ev.get("denominator")), share=fmt.share(ev.get("prevalence"))),
              "title": t["interval_95"].format(low=fmt.share(interval[0]), high=fmt.share(interval[1])) if interval else ""}]
    if barrier["kind"] == "emerging":
        also = [p for p in ev.get("phrases") or [] if p != ev.get("phrase")]
        if also:
            lines.append({"text": t["also_phrased"].format(phrases=", ".join(f"“{p}”" for p in also))})
        if ev.get("negative_writers"):
            share = fmt.pct(ev.get("share_of_negative"))
            lines.append({"text": t["share_of_negative"].format(share=share, n=fmt.count(ev["negative_writers"]))})
    where = _placement(site, ev.get("stages") or {}, ev.get("mentions"), names)
    if where:
        lines.append({"text": where})
    return [{"title": "", **line} for line in lines]


def _placement(site: Site, stages: dict[str, int], mentions: int | None, names: dict[str, str]) -> str:
    """Where a barrier's texts were written: "41 texts: mostly at Purchase; 14 without a stage"."""
    t, fmt = site.t, site.fmt
    placed = sorted(((k, v) for k, v in stages.items() if k != UNPLACED), key=lambda kv: -kv[1])
    unplaced = stages.get(UNPLACED, 0)
    parts = []
    if len(placed) == 1:
        parts.append(t["where_one"].format(stage=names.get(placed[0][0], placed[0][0])))
    elif placed and 2 * placed[0][1] > sum(v for _, v in placed):
        parts.append(t["where_mostly"].format(stage=names.get(placed[0][0], placed[0][0])))
    elif placed:
        parts.append(t["where_spread"].format(stages=", ".join(names.get(k, k) for k, _ in placed[:3])))
    if unplaced:
        parts.append(t["where_unplaced"].format(n=fmt.count(unplaced)) if placed else t["where_none"])
    if not parts:
        return ""
    return t["texts_where"].format(n=fmt.count(mentions if mentions is not None else sum(stages.values())), where="; ".join(parts))


def _changes(site: Site, version: Version, previous: Version | None, root: str) -> dict[str, Any]:
    """The "what changed since" section of a persona page: the flagged changes, the changes
    within noise worth a note, and the metric and channel changes."""
    t, diff, doc = site.t, version.diff, version.doc
    names = {**(site.stage_names(previous.doc) if previous else {}), **diff.get("stage_names", {}), **site.stage_names(doc)}
    barriers, noise = [], []
    for b in diff.get("barriers", []):
        note = _useful_note(site, b)
        if not b["flagged"] and not (b["status"] == "unchanged" and note):
            continue
        row = {"id": b["id"], "title": _title(b), "kind_label": t[f"kind_{b['kind']}"], "stage": names.get(b["stage"], b["stage"]),
               **_status(site, b, version.persona, root), "severity": _from_to(b["severity_from"], b["severity_to"]),
               "measure": _change_measure(site, b), "note": note}
        (barriers if b["flagged"] else noise).append(row)
    metrics = []
    for m in diff.get("metrics", []):
        if not m["flagged"]:
            continue
        change = m.get("change")  # from the map's directions: which way this metric is better
        metrics.append({"stage": names.get(m["stage"], m["stage"]), "label": _metric_label(t, m["metric"]),
                        "from_to": f"{_metric_value(site, m['metric'], m['from'])} → {_metric_value(site, m['metric'], m['to'])}",
                        "change": change or "", "badge": {"worse": "worsened", "better": "improved"}.get(change, "unchanged"),
                        "change_label": t[change] if change in ("worse", "better") else t["nothing"]})
    channels = [{"stage": names.get(c["stage"], c["stage"]), "channel": c["channel"],
                 "from_to": f"{site.fmt.pct(c['from'])} → {site.fmt.pct(c['to'])}"} for c in diff.get("touchpoints", []) if c["flagged"]]
    too_few = sum(b["status"] == "too_few" for b in diff.get("barriers", []))
    return {
        "title": t["what_changed_since"].format(version=diff["from"]) if diff.get("from") else t["what_changed_first"],
        "from_href": f"{root}{previous.page}" if previous else None, "from": diff.get("from"),
        "summary": _summary_text(site, version), "barriers": barriers, "noise": noise, "metrics": metrics, "channels": channels,
        "too_few": t["too_few_changes"].format(n=site.fmt.count(too_few), minimum=site.fmt.count(diff.get("min_customers"))) if too_few else "",
    }


def _summary_text(site: Site, version: Version) -> str:
    """The diff's summary; rebuilt from the diff's entries in the site's language when it is
    not English (``diff.summarize`` writes English), with the same numbers."""
    diff, doc, t = version.diff, version.doc, site.t
    if site.config.project.language == "en":
        return diff.get("summary", "")
    names = {**diff.get("stage_names", {}), **site.stage_names(doc)}
    if diff.get("from") is None and diff.get("from_period") is None:
        if diff.get("too_few"):
            return t["first_version_too_few"].format(persona=doc["persona"]["name"], period=doc["period"],
                                                     n=site.fmt.count(diff.get("min_customers")))
        return t["first_version"].format(persona=doc["persona"]["name"], period=doc["period"],
                                         n=sum(b["status"] == "new" for b in diff.get("barriers", [])))
    parts = []
    for status in ("worsened", "new", "returned", "improved", "resolved"):
        items = []
        for b in (b for b in diff.get("barriers", []) if b["status"] == status):
            seen = f", {t['last_seen'].format(version=b['last_seen'])}" if status == "returned" and b.get("last_seen") else ""
            items.append(f"{_title(b)} ({names.get(b['stage'], b['stage'])}{seen}: {_change_measure(site, b)})")
        if items:
            parts.append(t["summary_status"].format(status=site.status_label(status).capitalize(), items="; ".join(items)))
    moved = sum(m["flagged"] for m in diff.get("metrics", []))
    if moved:
        parts.append(t["summary_metrics"].format(n=moved))
    if diff.get("too_few"):
        parts.append(t["summary_too_few"].format(n=site.fmt.count(diff.get("min_customers"))))
    return ". ".join(parts) + "." if parts else t["no_significant_change"]


def _history_rows(site: Site, version: Version, upto: list[Version], history: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each barrier's severity in every version up to this one (later versions are not shown on
    an earlier page: it reads as that quarter's report)."""
    t, names = site.t, site.stage_names(version.doc)
    ids = [v.id for v in upto]
    # Where a barrier sits now (a theme's stage can move); the history knows where it was first seen.
    current = {barrier_id: b["stage"] for barrier_id, b in active_barriers(version.doc).items()}
    rows = []
    for barrier_id, entry in history.items():
        points = {p["version"]: p for p in entry["points"]}
        values = [points[v]["severity"] if v in points else None for v in ids]
        if all(v is None for v in values):
            continue
        now = points.get(version.id, {})
        title = _title(entry)
        label = f"{title}: " + ", ".join(f"{v} {'—' if s is None else s}" for v, s in zip(ids, values))
        status = now.get("status") if now.get("severity") is not None or now.get("status") in BADGED else None
        stage = current.get(barrier_id, entry["stage"])
        rows.append({"title": title, "stage": names.get(stage, stage), "kind_label": t[f"kind_{entry['kind']}"],
                     "svg": sparkline_svg(values, 0, 100, label), "first_seen": entry["first_seen"],
                     "now": now.get("severity"), "band": _severity_band(now.get("severity")),
                     "status": status, "status_label": site.status_label(status) if status else "",
                     "badge": status in BADGED, "sort": (now.get("severity") is None, -(now.get("severity") or max(v or 0 for v in values)))})
    rows.sort(key=lambda r: r["sort"])
    return {"versions": ids, "rows": rows}


def _lineage(version: Version) -> dict[str, Any]:
    """What the version was built from, without file locations (they name internal buckets)."""
    lineage = version.doc.get("lineage", {})
    return {"inputs": [{"source": name, "rows": item.get("rows"), "sha": (item.get("sha256") or "")[:12]}
                       for name, item in lineage.get("inputs", {}).items()],
            "config": (lineage.get("config_sha256") or "")[:12], "code": lineage.get("code_version") or "",
            "created_at": version.created_at or ""}


# ------------------------------------------------------------------------------ exports


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a text starting like a formula gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def barriers_csv(doc: dict[str, Any], diff: dict[str, Any]) -> bytes:
    """One row per barrier of the map, stages in order and those not tied to a stage last
    (UTF-8 with a BOM so that Excel reads Cyrillic). Catalog barriers and themes fill customers,
    denominator, unit and prevalence (a fraction); metric barriers fill metric and value."""
    statuses = _statuses(diff)
    unplaced = labels_for(doc.get("language") if doc.get("language") in LANGUAGES else "en")["not_tied_to_stage"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    placed = [(stage["name"], b) for stage in doc["stages"] for b in stage["barriers"]]
    for stage_name, b in placed + [(unplaced, b) for b in doc.get("unplaced", [])]:
        ev = b.get("evidence", {})
        metric = b["kind"] == "metric"
        counted = (None,) * 4 if metric else (ev.get("customers"), ev.get("denominator"), ev.get("unit"), ev.get("prevalence"))
        quote = b["quotes"][0]["text"] if b["quotes"] else None
        row = (stage_name, b["id"], b["title"], b["kind"], b["severity"], statuses.get(b["id"], "unchanged"), *counted,
               ev.get("metric") if metric else None, ev.get("value") if metric else None, quote)
        writer.writerow([csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# ------------------------------------------------------------------------------ comparison page


def comparison_folder(persona: str, from_version: str, to_version: str) -> str:
    return f"compare/{persona}/{from_version}..{to_version}"


def render_comparison(store: VersionStore, config: CjmConfig, persona: str, from_version: str, to_version: str,
                      diff: dict[str, Any]) -> dict[str, bytes]:
    """The comparison of any two versions: ``compare/<persona>/<from>..<to>/`` with the page,
    the diff as JSON and the Markdown summary. Versions are exact ids such as ``2025Q2-r1``."""
    import dataclasses

    from cjm_tasks import jsonio
    from cjm_tasks.versions.diff import to_markdown

    site = Site(config, load_versions(store), {})
    old, new = site.find(persona, from_version), site.find(persona, to_version)
    if old is None or new is None:
        raise ReportError(f"versions {from_version} and {to_version} of {persona!r} must both be stored")
    root = "../../../"
    folder = comparison_folder(persona, from_version, to_version)
    compared = dataclasses.replace(new, diff=diff)
    changes = _changes(site, compared, old, root)
    t = site.t
    heading = t["compare_title"].format(persona=new.doc["persona"]["name"], to=to_version, **{"from": from_version})
    page = render_template(
        "compare.html.j2",
        **site.context(root, [(t["home"], f"{root}index.html"), (new.doc["persona"]["name"], f"{root}{new.page}"), (heading, None)]),
        heading=heading, changes=changes, from_version=from_version, to_version=to_version,
        from_href=f"{root}{old.page}", to_href=f"{root}{new.page}",
    )
    return {f"{folder}/index.html": page.encode("utf-8"), f"{folder}/diff.json": jsonio.dumps(diff),
            f"{folder}/summary.md": to_markdown(diff).encode("utf-8")}
