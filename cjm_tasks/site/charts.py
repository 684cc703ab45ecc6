"""The SVG charts of the site: bars, sparklines, the emotion curve and the funnel.

Charts are drawn here rather than by a script so that a page reads without a network or
JavaScript. Their labels and stage names may be untrusted (configured names, survey text): every
text embedded in an SVG is escaped with :func:`markupsafe.escape` before the chart is marked safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

from cjm_tasks.site.labels import Formatter, mood_of, severity_band

SEVERITY_COLORS = {"high": "#c62828", "mid": "#ec8a1c", "low": "#e9bd3f"}
MOOD_COLORS = {"positive": "#2e9d5b", "mixed": "#d99a14", "negative": "#d64541"}
TRACK = "#e9ecf2"
INK = "#1d2330"
MUTED = "#5b6475"


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
    return bar_svg(severity / 100, SEVERITY_COLORS[severity_band(severity)], label)


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
        color = MOOD_COLORS[mood_of(v)] if zero else SEVERITY_COLORS[severity_band(int(v))]
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
        body.append(f'<circle cx="50%" cy="{y(value)}" r="6.5" fill="{MOOD_COLORS[mood_of(value)]}" stroke="#fff" stroke-width="2"/>')
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
            body.append(f'<circle cx="{_n(x)}" cy="{_n(y(v))}" r="7" fill="{MOOD_COLORS[mood_of(v)]}" stroke="#fff" stroke-width="2"/>')
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
            body.append(f'<circle cx="{_n(x(v))}" cy="{_n(y)}" r="6.5" fill="{MOOD_COLORS[mood_of(v)]}" stroke="#fff" stroke-width="2"/>')
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
