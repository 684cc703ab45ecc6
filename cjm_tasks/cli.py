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

from cjm_tasks.errors import CjmError

app = typer.Typer(help="Quarterly customer journey maps: sample data, validation, maps, versions and reports.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

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
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


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


def _period(text: str):
    from cjm_tasks.periods import Period, PeriodError

    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the sample data into.")] = Path("build/sample-data"),
    quarters: Annotated[int, typer.Option(min=1, max=40, help="How many consecutive quarters.")] = 4,
    start: Annotated[str, typer.Option(help="First quarter, e.g. 2025Q1.")] = "2025Q1",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 7,
    scale: Annotated[float, typer.Option(min=0.01, help="Size multiplier (1 = about 1,500 customers a quarter).")] = 1.0,
) -> None:
    """Generate deterministic surveys, reviews, sales and customers with planted barriers."""
    from cjm_tasks.sample_data import generate_sample_data

    _period(start)
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
    from cjm_tasks.pipeline import read_and_validate

    config = _load()
    p = _period(period)
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
    from cjm_tasks.pipeline import build_period, write_maps

    config = _load()
    p = _period(period)
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
        out.print(f"[bold]{doc['persona']['id']}[/bold]: {s['customers']:,} customers, {s['barriers']['total']} barriers; top: {top}")
    out.print(f"maps written to {out_dir.resolve()}")


@config_app.command("check")
def config_check() -> None:
    """Validate every configuration file and summarise what it configures."""
    config = _load()
    out.print(f"[green]✔[/green] {config.path} is valid (config sha256 {config.sha256()[:12]})")
    for name, src in config.sources.items():
        out.print(f"  source {name}: {src.format} at {src.location}")
    out.print(f"  {len(config.stages)} stages: {', '.join(config.stage_ids)}")
    out.print(f"  {len(config.personas.personas)} personas ({config.personas.membership} match): "
              f"{', '.join(p.id for p in config.personas.personas)}")
    out.print(f"  {len(config.barriers.catalog)} catalog barriers, {len(config.barriers.metric_rules)} metric rules")
    out.print(f"  storage: work {config.storage.work}, versions {config.storage.versions}, site {config.storage.site}")


def main() -> None:
    """Console-script entry point: turn user errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except CjmError as exc:
        if state.debug:
            raise
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


if __name__ == "__main__":
    main()
