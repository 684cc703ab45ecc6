"""Put a case through the ``cjm`` command and read what it left behind.

In-process (``cjm_tasks.cli.main`` with ``sys.argv`` set) for speed; in a new process for the
inputs that can take the interpreter down (deep nesting: a segmentation fault, a recursion that
exhausts the C stack) or hang it (an alias bomb), where a timeout stands for the hang."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.edits import Project, edit_yaml

REPO = Path(__file__).resolve().parents[2]
# Variables that change how cjm reports errors or which file it reads: never inherited by a case.
SCRUBBED = ("CJM_DEBUG", "CJM_CONFIG", "CJM_SAMPLE_DATA", "CJM_WORK_LOCATION", "CJM_STORE_LOCATION", "CJM_SITE_LOCATION")


@dataclass
class Outcome:
    code: int | str     # the exit code, or "timeout" / "signal N" for a process that never exited by itself
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    def tail(self, chars: int = 1500) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.stdout[-chars:]}\n--- stderr ---\n{self.stderr[-chars:]}"


def make_project(root: Path) -> Project:
    """Sample data for 2025Q1 and 2025Q2 (scale 0.2) and the bundled configuration reading it
    through paths relative to cfg/ (so a copied folder is a whole project). Matching by
    similarity is off: it only costs time here, no case is about it."""
    from cjm_demo.sample_data import generate_sample_data

    project = Project(root)
    generate_sample_data(project.data, quarters=2, start="2025Q1", seed=7, scale=0.2)
    project.cfg.mkdir(parents=True)
    for f in (REPO / "configs").glob("*.yaml"):
        shutil.copy(f, project.cfg / f.name)

    def relative(doc: dict) -> None:
        for source in doc["sources"].values():
            source["location"] = source["location"].replace("${CJM_SAMPLE_DATA:-../build/sample-data}", "../data")
        doc["storage"] = {"work": "../work", "versions": "../store", "site": "../site"}

    edit_yaml(project.main, relative)
    edit_yaml(project.cfg / "barriers.yaml",
              lambda doc: doc.setdefault("matching", {}).setdefault("similarity", {}).update(enabled=False))
    return project


def make_baseline(root: Path) -> Project:
    """:func:`make_project` with 2025Q1 refreshed: stored and published."""
    project = make_project(root)
    first = run_cli(project, ["refresh", "--period", "2025Q1"])
    assert first.code == 0, f"the baseline refresh of 2025Q1 failed:\n{first.tail()}"
    return project


def run_cli(project: Project, args: list[str], *, isolate: bool = False, timeout: float = 60) -> Outcome:
    """``cjm --config <project>/cfg/cjm.yaml <args>`` with the project's extra environment,
    run from the project's folder."""
    argv = ["--config", str(project.main), *args]
    if isolate:
        return _run_process(project, argv, timeout)
    return _run_in_process(project, argv)


def _run_process(project: Project, argv: list[str], timeout: float) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(project.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, "-m", "cjm_tasks.cli", *argv], capture_output=True, text=True, timeout=timeout,
                              cwd=project.root, env=env, errors="replace")
    except subprocess.TimeoutExpired as exc:
        def text(b: bytes | str | None) -> str:
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
        return Outcome("timeout", text(exc.stdout), text(exc.stderr) + f"\n[still running after {timeout:.0f} s: killed]")
    code: int | str = done.returncode if done.returncode >= 0 else f"signal {-done.returncode}"
    return Outcome(code, done.stdout, done.stderr)


def _run_in_process(project: Project, argv: list[str]) -> Outcome:
    from cjm_tasks import cli

    saved_env = {k: os.environ.get(k) for k in (*SCRUBBED, *project.env)}
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    stdout, stderr = io.StringIO(), io.StringIO()
    # What the library logs belongs to the output a user sees (a secret in a log line leaks too).
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    code: int | str = 0
    try:
        for k in SCRUBBED:
            os.environ.pop(k, None)
        os.environ.update(project.env)
        os.chdir(project.root)
        sys.argv = ["cjm", *argv]
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException as exc:  # noqa: BLE001 - anything main() lets through is the finding
                import traceback

                traceback.print_exc(file=stderr)
                code = f"raised {type(exc).__name__}"
    finally:
        logging.getLogger().removeHandler(handler)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(code, stdout.getvalue(), stderr.getvalue())


def snapshot(root: Path, skip: tuple[str, ...] = ("work",)) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` except the top-level folders in
    ``skip`` (a run's workspace is the one place a refused run may write)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or not path.is_file():
            continue
        found[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def changes(before: dict[str, str], after: dict[str, str], under: str | None = None) -> list[str]:
    """What differs between two snapshots, optionally only below the folder ``under``."""
    keys = sorted(set(before) | set(after))
    if under is not None:
        keys = [k for k in keys if k == under or k.startswith(under + "/")]
    out = []
    for k in keys:
        if k not in before:
            out.append(f"+ {k}")
        elif k not in after:
            out.append(f"- {k}")
        elif before[k] != after[k]:
            out.append(f"~ {k}")
    return out
