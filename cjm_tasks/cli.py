"""The ``cjm`` command. Exit codes: 0 ok, 1 validation or data failure, 2 usage or configuration error."""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cjm_tasks.errors import CjmError

app = typer.Typer(help="Quarterly customer journey maps: sample data, validation, maps, versions and reports.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
versions_app = typer.Typer(help="List, show and verify stored map versions.", no_args_is_help=True)
app.add_typer(versions_app, name="versions")
catalog_app = typer.Typer(help="Improve the barrier catalog from the data.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    config: Optional[str] = None
    debug: bool = False


state = State()


@app.callback()
def main_options(
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Main config file (default: $CJM_CONFIG or configs/cjm.yaml).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    state.config, state.debug = config, debug
    from cjm_tasks.logs import quiet_libraries, redact_logs

    # What the run did (rows read, gate, maps, versions, pages) at INFO; the libraries' own INFO
    # lines only with --debug.
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        handlers=[_ConsoleHandler()])
    quiet_libraries()
    redact_logs()  # --debug shows botocore's signed requests: their credentials are masked


class _ConsoleHandler(logging.Handler):
    """Log records printed through the stderr console: above a running spinner rather than through
    it (a plain stream handler would write into the spinner's line), never wrapped, never markup."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err.print(self.format(record), highlight=False, markup=False, emoji=False)
        except Exception:
            self.handleError(record)


@contextmanager
def step(description: str):
    """Show a spinner while a step runs; report its time when it took more than a second."""
    started = time.perf_counter()
    with err.status(description) as status:
        yield status
    elapsed = time.perf_counter() - started
    if elapsed > 1:
        err.print(f"[dim]✓ {description} ({elapsed:.1f} s)[/dim]")


def _load():
    from cjm_tasks.config import load_config

    return load_config(state.config)


def _checked(check, text: str, param: str):
    """``check(text)`` (a :mod:`cjm_tasks.ids` check), its refusal shown as a bad ``param``.

    Every persona, period and version a user types passes here before the configuration is read
    or the store is listed: none of them reaches a path unchecked."""
    from cjm_tasks.ids import IdError

    try:
        return check(text)
    except IdError as exc:
        raise typer.BadParameter(str(exc), param_hint=param) from None


def _period(text: str, param: str = "--period"):
    from cjm_tasks import ids

    return _checked(ids.period, text, param)


def _persona(text: str, param: str = "PERSONA") -> str:
    from cjm_tasks import ids

    return _checked(ids.persona_id, text, param)


def _version(text: str, param: str) -> str:
    from cjm_tasks import ids

    return str(_checked(ids.version_ref, text, param))


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the sample data into.")] = Path("build/sample-data"),
    quarters: Annotated[int, typer.Option(min=1, max=40, help="How many consecutive quarters.")] = 4,
    start: Annotated[str, typer.Option(help="First quarter, e.g. 2025Q1.")] = "2025Q1",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 7,
    scale: Annotated[float, typer.Option(min=0.01, help="Size multiplier (1 = about 1,500 customers a quarter).")] = 1.0,
) -> None:
    """Generate deterministic surveys, reviews, sales and customers with planted barriers."""
    try:
        from cjm_demo.sample_data import generate_sample_data
    except ModuleNotFoundError as exc:
        if exc.name not in ("cjm_demo", "cjm_demo.sample_data"):
            raise
        raise CjmError("the sample-data command needs the demo package: pip install 'cjm[demo]'") from None

    _period(start, "--start")
    with step(f"generating {quarters} quarter(s) of sample data into {out_dir}") as status:
        summary = generate_sample_data(out_dir, quarters=quarters, start=start, seed=seed, scale=scale,
                                       progress=lambda what, done: status.update(f"{what} ({done:.0%})"))
    out.print(f"Sample data for {', '.join(summary.periods)} in [bold]{summary.out}[/bold]: "
              f"{summary.customers:,} customers, {summary.sales_events:,} sales events, "
              f"{summary.reviews:,} reviews, {summary.survey_answers:,} survey answers "
              f"(ground truth: {summary.out / 'ground_truth.json'})")


@app.command()
def validate(
    period: Annotated[str, typer.Option("--period", "-p", help="Quarter to validate, e.g. 2025Q3.")],
) -> None:
    """Read every source for a quarter and run the validation gate (exit 1 when it fails)."""
    from cjm_tasks.run.pipeline import read_and_validate

    p = _period(period)
    config = _load()
    with step(f"validating {p}") as status:
        outcome = read_and_validate(config, p, progress=lambda what: status.update(f"{p}: {what}"), raise_on_failure=False)
    result = outcome.result
    for name, src in result.sources.items():
        mark = "[green]✔[/green]" if src.success else "[red]✘[/red]"
        failed = sum(not c.success for c in src.checks)
        out.print(f"{mark} {name}: {src.rows:,} rows, {len(src.checks)} checks" + (f", [red]{failed} failed[/red]" if failed else ""))
    if not result.success:
        err.print(f"[red]validation of {p} failed:[/red]", highlight=False)
        err.print(result.summary(), highlight=False, markup=False)
        err.print(f"report: {outcome.report['html']}")
        raise typer.Exit(1)
    out.print(f"[green]{p}: all {result.check_count} checks passed[/green] · report: {outcome.report['html']}")


@app.command()
def build(
    period: Annotated[str, typer.Option("--period", "-p", help="Quarter to build, e.g. 2025Q3.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for <persona>.json files.")] = Path("build/maps"),
    persona: Annotated[Optional[list[str]], typer.Option("--persona", help="Only this persona (repeatable); default every persona and 'all'.")] = None,
) -> None:
    """Validate a quarter's inputs and write every persona's journey map as JSON."""
    from cjm_tasks.run.pipeline import build_period, write_maps

    p = _period(period)
    persona = [_persona(x, "--persona") for x in persona] if persona else None
    config = _load()
    known = [x.id for x in config.personas.personas] + ["all"]
    unknown = [x for x in persona or [] if x not in known]
    if unknown:
        raise typer.BadParameter(f"unknown persona {', '.join(unknown)} (expected one of {', '.join(known)})", param_hint="--persona")
    with step(f"building maps for {p}") as status:
        maps, _ = build_period(config, p, persona or None, progress=lambda what: status.update(f"{p}: {what}"))
        paths = write_maps(maps, out_dir)
    for path, doc in zip(paths, maps.values()):
        s = doc["summary"]
        top = ", ".join(f"{b['title']} ({b['severity']})" for b in s["top_barriers"][:3]) or "no barriers"
        out.print(f"[bold]{doc['persona']['id']}[/bold]: {s['customers']:,} customers, {s['barriers']['total']} barriers; top: {escape(top)}", highlight=False)
    out.print(f"maps written to {out_dir.resolve()}")


@app.command()
def refresh(
    period: Annotated[str, typer.Option("--period", "-p", help="Quarter to refresh, e.g. 2025Q3.")],
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when inputs, configuration and code match the stored versions.")] = False,
) -> None:
    """Read, validate, build and store every persona's map of a quarter with its diff, then publish the site (not when unchanged)."""
    from cjm_tasks.run.steps import refresh as run_refresh

    from cjm_tasks import ids

    p = _checked(ids.refreshable_period, period, "--period")
    config = _load()
    with step(f"refreshing {p}") as status:
        result = run_refresh(config, p, progress=lambda what: status.update(f"{p}: {what}"), force=force)
    if result["unchanged"]:
        out.print(f"{escape(result['check']['message'])}; nothing built, stored or published", highlight=False)
        return
    store = _store(config)
    for r in result["versions"]:
        diff = store.read_diff(store.resolve(r.persona, r.version))
        state = "[green]new[/green]" if r.created else "[dim]unchanged, kept[/dim]"
        out.print(f"{r.persona} {r.version}: {state} · {escape(diff['summary'])}", highlight=False)
    out.print(f"versions in {config.storage.versions}")
    _report_site(result["site"])


def _report_site(site) -> None:
    written = len(site.written)
    out.print(f"site: {written} file(s) written, {len(site.kept)} unchanged; latest {site.latest}")
    out.print(f"[bold]open {site.url}[/bold]", highlight=False)


@app.command()
def publish(
    period: Annotated[Optional[str], typer.Option("--period", "-p", help="Check this quarter is stored before publishing.")] = None,
) -> None:
    """Re-render the site from the stored versions and publish it (pages first, the latest pointer last)."""
    from cjm_tasks.run.pipeline import publish as run_publish

    p = _period(period) if period else None
    config = _load()
    with step("publishing the site") as status:
        site = run_publish(config, p, progress=lambda what: status.update(what))
    _report_site(site)


def _store(config):
    from cjm_tasks.run.pipeline import open_version_store

    return open_version_store(config)


def _json_out(doc) -> None:
    from cjm_tasks import jsonio

    sys.stdout.write(jsonio.dumps(doc).decode("utf-8"))


@versions_app.command("list")
def versions_list(
    persona: Annotated[Optional[str], typer.Option(help="Only this persona.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every stored version, oldest first."""
    persona = _persona(persona, "--persona") if persona is not None else None
    config = _load()
    versions = _store(config).list(persona)
    rows = [{"persona": v.persona, "version": str(v.version), "created_at": v.manifest.get("created_at"),
             "previous": v.manifest.get("previous"), "content_sha256": v.manifest.get("content_sha256"),
             "barriers": v.manifest.get("summary", {}).get("barriers", {}).get("total"),
             "customers": v.manifest.get("summary", {}).get("customers")} for v in versions]
    if as_json:
        _json_out(rows)
        return
    if not rows:
        out.print(f"no versions in {config.storage.versions}")
        return
    from rich.table import Table

    table = Table("persona", "version", "created", "customers", "barriers", "compared with", "content")
    for r in rows:
        table.add_row(r["persona"], r["version"], r["created_at"] or "", str(r["customers"]), str(r["barriers"]), r["previous"] or "—",
                      (r["content_sha256"] or "")[:12])
    out.print(table)


@versions_app.command("show")
def versions_show(
    persona: Annotated[str, typer.Argument(help="Persona id.")],
    version: Annotated[str, typer.Argument(help="2025Q3 (latest revision) or 2025Q3-r2.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the map document.")] = False,
) -> None:
    """One version: its manifest summary, barriers and diff summary (or the whole map with --json)."""
    persona, version = _persona(persona), _version(version, "VERSION")
    config = _load()
    store = _store(config)
    stored = store.resolve(persona, version)
    doc = store.read_map(stored)
    if as_json:
        _json_out(doc)
        return
    m = stored.manifest
    out.print(f"[bold]{persona} {stored.version}[/bold] · created {m['created_at']} · run {m['run_id']} · code {m.get('code_version')}")
    out.print(f"compared with {m.get('previous') or '—'}: {escape(store.read_diff(stored)['summary'])}", highlight=False)
    for stage in doc["stages"]:
        mt = stage["metrics"]
        out.print(f"  {escape(stage['name'])}: {mt['customers']} customers, emotion {mt['emotion']}", highlight=False)
        for b in stage["barriers"]:
            out.print(f"    - [{b['kind']}] {b['title']} (severity {b['severity']})", highlight=False, markup=False)


@versions_app.command("verify")
def versions_verify() -> None:
    """Check every stored file against its manifest (exit 1 on a tampered, truncated or missing file)."""
    config = _load()
    store = _store(config)
    problems = store.verify()
    count = len(store.list())
    if problems:
        for problem in problems:
            err.print(f"✘ {problem}", style="red", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(f"[green]✔ {count} version(s) verified[/green] in {config.storage.versions}")


@app.command()
def diff(
    persona: Annotated[str, typer.Argument(help="Persona id.")],
    from_version: Annotated[str, typer.Argument(metavar="FROM", help="Older version, e.g. 2025Q2 or 2025Q2-r1.")],
    to_version: Annotated[str, typer.Argument(metavar="TO", help="Newer version.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or md.")] = "text",
    publish_page: Annotated[bool, typer.Option("--publish", help="Also publish the comparison page in the site.")] = False,
) -> None:
    """Compare any two versions of a persona's map."""
    from cjm_tasks.versions.diff import diff_maps
    from cjm_tasks.versions.wording import measure_text, stage_label, to_markdown

    if fmt not in ("text", "json", "md"):
        raise typer.BadParameter(f"{fmt!r} is not one of text, json, md", param_hint="--format")
    persona, from_version, to_version = _persona(persona), _version(from_version, "FROM"), _version(to_version, "TO")
    config = _load()
    store = _store(config)
    a, b = store.resolve(persona, from_version), store.resolve(persona, to_version)
    result = diff_maps(store.read_map(a), store.read_map(b), config.diff, str(a.version), str(b.version), store.last_seen(persona, a.version))
    if publish_page:
        from cjm_tasks.run.pipeline import publish_comparison

        err.print(f"comparison page: {publish_comparison(config, persona, str(a.version), str(b.version))['url']}", highlight=False)
    if fmt == "json":
        _json_out(result)
    elif fmt == "md":
        sys.stdout.write(to_markdown(result))
    else:
        out.print(result["summary"], highlight=False, markup=False)
        for item in result["barriers"]:
            if item["status"] != "unchanged" or item["note"]:
                out.print(f"  {item['status']:>9}  {item['title']} at {stage_label(result, item['stage'])}: {measure_text(item)}, "
                          f"severity {item['severity_from']} → {item['severity_to']} (q = {item['q_value']})"
                          + (f" — {item['note']}" if item["note"] else ""), highlight=False, markup=False)


@app.command()
def history(
    persona: Annotated[str, typer.Argument(help="Persona id.")],
    barrier: Annotated[Optional[str], typer.Option(help="Only this barrier id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each barrier's severity and status across every version of a persona."""
    persona = _persona(persona)
    config = _load()
    found = _store(config).history(persona)
    if barrier:
        if barrier not in found:
            raise typer.BadParameter(f"barrier {barrier!r} never appeared for {persona} (seen: {', '.join(found) or 'none'})", param_hint="--barrier")
        found = {barrier: found[barrier]}
    if as_json:
        _json_out(found)
        return
    for barrier_id, h in found.items():
        points = " ".join(f"{p['version']}:{p['severity'] if p['severity'] is not None else '·'}({p['status']})" for p in h["points"])
        where = escape(f"[{h['kind']}, {h['stage']}]")
        out.print(f"[bold]{escape(h['title'])}[/bold] {where} first {h['first_seen']}, last {h['last_seen']}", highlight=False)
        out.print(f"  {points}", highlight=False, markup=False)


@config_app.command("check")
def config_check(
    period: Annotated[Optional[str], typer.Option("--period", "-p", help="Also a dry run against this quarter's files (exit 1 on a problem).")] = None,
) -> None:
    """Validate every configuration file; with --period, check it against the real files before any gate or build."""
    from cjm_tasks.ingest.dry_run import config_warnings, dry_run

    p = _period(period) if period is not None else None
    config = _load()
    out.print(f"[green]✔[/green] {config.path} is valid (config sha256 {config.sha256()[:12]})")
    for name, src in config.sources.items():
        out.print(f"  source {name}: {src.format} at {src.where}", highlight=False, markup=False)
    out.print(f"  {len(config.stages)} stages: {', '.join(config.stage_ids)}")
    out.print(f"  {len(config.personas.personas)} personas ({config.personas.membership} match): "
              f"{', '.join(p.id for p in config.personas.personas)}")
    out.print(f"  {len(config.barriers.catalog)} catalog barriers, {len(config.barriers.metric_rules)} metric rules")
    out.print(f"  storage: work {config.storage.work}, versions {config.storage.versions}, site {config.storage.site}")
    if p is None:
        for note in config_warnings(config):
            out.print(f"  [yellow]note:[/yellow] {escape(note)}", highlight=False)
        return
    with step(f"reading what {p} needs (no gate, no build)"):
        report = dry_run(config, p)
    _print_dry_run(report)
    if report.problems:
        err.print(f"[red]{len(report.problems)} problem(s) for {p}:[/red]")
        for problem in report.problems:
            err.print(f"  ✘ {problem}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(f"[green]✔ {p}: every column, event, question and persona field resolves[/green]")


def _print_dry_run(report) -> None:
    from rich.table import Table

    for rep in report.sources.values():
        title = f"{rep.name}: {rep.format} at {rep.where}"
        if rep.error is None:
            extra = f"; {rep.records:,} export rows" if rep.records is not None else ""
            title += f" · {rep.rows:,} rows in {report.period}{extra}, {rep.rows_outside_period:,} outside, {rep.files} file(s)"
        if not rep.columns:
            out.print(f"{escape(title)}: [red]not read[/red]", highlight=False)
            continue
        table = Table("column", "from", "status", title=escape(title), title_justify="left", highlight=False)
        for c in rep.columns:
            status = {True: "[green]found[/green]", False: "[red]missing[/red]" if c.required else "[dim]absent (optional)[/dim]",
                      None: f"[dim]{c.note or 'read at query time'}[/dim]"}[c.found]
            table.add_row(c.canonical + ("" if not c.required else " *"), escape(c.file_column), status)
        out.print(table)
    if report.events:
        share = report.mapped_event_share
        table = Table("event", "rows", "stage", title=f"sales events: {share:.0%} of rows map to a stage", title_justify="left")
        for event, n, stage in report.events:
            table.add_row(escape(event), f"{n:,}", stage or "[red]— listed under no stage[/red]")
        out.print(table)
    if report.questions:
        table = Table("question", "answers", "stage", "metric", title="survey questions", title_justify="left")
        for q, n, stage, metric in report.questions:
            table.add_row(escape(q), f"{n:,}", stage or "[red]— listed under no stage[/red]", metric or "")
        out.print(table)
    if report.personas:
        table = Table("persona", "customers", title=f"personas: {report.customers:,} active customers", title_justify="left")
        for pid, n in report.personas:
            table.add_row(pid, f"{n:,}")
        table.add_row("[dim](no persona)[/dim]", f"{report.unassigned:,}")
        out.print(table)
    for note in report.warnings:
        out.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


@catalog_app.command("suggest")
def catalog_suggest(
    period: Annotated[str, typer.Option("--period", "-p", help="Quarter to read, e.g. 2025Q3.")],
    config_file: Annotated[Optional[str], typer.Option("--config", "-c", help="Main config file (default: the global --config, $CJM_CONFIG or configs/cjm.yaml).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many new barriers, and how many additions, to propose.")] = 10,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the YAML to this file instead of the standard output.")] = None,
) -> None:
    """Propose catalog entries (YAML for barriers.yaml) from a quarter's negative texts that match no barrier."""
    from cjm_tasks.errors import DataError
    from cjm_tasks.maps.prepared import Inputs, prepare_inputs
    from cjm_tasks.ingest.sources import read_sources
    from cjm_tasks.maps.suggest import negative_unmatched, suggest, to_yaml

    p = _period(period)
    if config_file:
        state.config = config_file
    config = _load()
    with step(f"reading and preparing {p}") as status:
        try:
            data = read_sources(config, p)
        except DataError as exc:
            # No gate runs here, so an input that cannot be read is reported as it is, not as a failed check.
            raise CjmError(f"cannot read the inputs of {p}: {exc}") from None
        status.update(f"{p}: preparing texts")
        prepared = prepare_inputs(Inputs(**{name: src.frame for name, src in data.items()}), config)
        status.update(f"{p}: looking for recurring complaints")
        suggestions = suggest(prepared, config, top)
        unmatched = len(negative_unmatched(prepared, config))
    text = to_yaml(suggestions, str(p))
    new = sum(s.kind == "new" for s in suggestions)
    summary = f"{p}: {new} new barrier(s) and {len(suggestions) - new} addition(s) from {unmatched:,} negative texts that match no barrier"
    if out_file is None:
        sys.stdout.write(text)
        err.print(summary, highlight=False, markup=False)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    err.print(f"{summary}; written to {out_file}", highlight=False, markup=False)


@app.command()
def init(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write cjm.yaml and the files it names into.")],
    surveys: Annotated[Optional[Path], typer.Option("--surveys", help="A survey export (CSV, JSON Lines, Parquet or xlsx).")] = None,
    reviews: Annotated[Optional[Path], typer.Option("--reviews", help="A reviews export.")] = None,
    sales: Annotated[Optional[Path], typer.Option("--sales", help="A sales events export (a file, or a folder of part files).")] = None,
    customers: Annotated[Optional[Path], typer.Option("--customers", help="A customers table (one row per customer).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the files in a folder that is not empty.")] = False,
) -> None:
    """Write a first, commented configuration from samples of your files (guesses and TODOs)."""
    from rich.table import Table

    from cjm_tasks.ingest.scaffold import init_project

    if not (surveys or reviews or sales):
        raise typer.BadParameter("give at least one of --surveys, --reviews, --sales", param_hint="--surveys/--reviews/--sales")
    with step(f"sampling your files and writing {out_dir}"):
        result = init_project(surveys=surveys, reviews=reviews, sales=sales, customers=customers, out=out_dir, force=force)
    out.print(f"wrote {len(result.files)} files into [bold]{escape(str(result.out))}[/bold]: {', '.join(p.name for p in result.files)}", highlight=False)
    table = Table("source", "guess", "value", "evidence")
    for g in result.guesses:
        table.add_row(g.source, g.key, escape(g.value), escape(g.evidence))
    out.print(table)
    if result.todos:
        out.print(f"[yellow]{len(result.todos)} TODO(s)[/yellow] (marked `# TODO:` in the files):")
        for t in result.todos:
            out.print(f"  {t.file} {t.key}: {t.message}", highlight=False, markup=False)
    else:
        out.print("[green]no TODO: every guess is commented; check them[/green]")
    out.print(f"next: cjm --config {result.out / 'cjm.yaml'} config check --period {result.first_period or '<quarter>'}", highlight=False, markup=False)


def main() -> None:
    """Console-script entry point: turn user errors into messages and exit codes."""
    try:
        # Without standalone mode click returns (rather than raises) the code of typer.Exit.
        code = app(standalone_mode=False)
    except CjmError as exc:
        if state.debug:
            # The traceback for whoever debugs, the same exit code for whatever scripts the run.
            import traceback

            traceback.print_exc()
        err.print(f"error: {exc}", style="red", highlight=False, markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option, bad value
        exc.show()
        sys.exit(2)
    except Exception as exc:
        if state.debug or os.environ.get("CJM_DEBUG"):
            raise
        err.print(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", style="red", highlight=False, markup=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
