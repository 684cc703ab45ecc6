"""No command prints a secret (issue 15): every ``cjm`` command runs with recognisable fake
secrets in the environment (AWS keys, an SMTP password) and, through ``${ENV}``, in the
configuration, with and without ``--debug``, against a real local S3 server (moto) holding the
work, store and site; then no standard output, standard error, local file or stored object
contains any of them. Misconfigurations that put a secret where the configuration is checked
(an unknown key, a wrong enum value, a number, a persona id) must be reported without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.edits import PERIOD, Project, edit_yaml
from tests.hostile.run import REPO, make_project

SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIA" + "HOSTILEX9Q2ZLEAK",
    "AWS_SECRET_ACCESS_KEY": "hostileSecretKey/9q8w7e6r5t4y3u2i1o0pLEAK",
    "AWS_SESSION_TOKEN": "hostileSessionToken+FwoGZXIvYXdzEBYaDLEAK",
    "CJM_SMTP_PASSWORD": "smtpHostilePassword-5e6f-LEAK",
    "CJM_SMTP_USER": "smtpHostileUser-7a8b-LEAK",
}
# A leak is the whole value or a recognisable start of it (an error that shortens 'wJalr...').
NEEDLES = sorted({v for v in SECRETS.values()} | {v[:12] for v in SECRETS.values()})
BUCKET = "cjm-secrets"


def _env(s3_server: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CJM_", "AWS_"))}
    env.update(SECRETS, CJM_S3_ENDPOINT_URL=s3_server, AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return env


def _cjm(project: Project, env: dict[str, str], args: list[str], debug: bool) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cjm_tasks.cli", "--config", str(project.main), *(["--debug"] if debug else []), *args]
    return subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=600, cwd=project.root, env=env)


def _configure(project: Project) -> None:
    """Work, store and site in the bucket; an SMTP section naming the secret variables (the
    summary goes to the log, so no mail is sent)."""
    def change(doc: dict) -> None:
        doc["storage"] = {"work": f"s3://{BUCKET}/work", "versions": f"s3://{BUCKET}/store", "site": f"s3://{BUCKET}/site"}
        doc["notify"] = {"smtp": {"host": "127.0.0.1", "port": 2525, "sender": "cjm@example.com",
                                  "recipients": ["cx@example.com"], "starttls": True,
                                  "username_env": "CJM_SMTP_USER", "password_env": "CJM_SMTP_PASSWORD"}}
    edit_yaml(project.main, change)


# Every command of `cjm --help`, in an order where each finds what it needs (2025Q1 refreshed
# before 2025Q2); each with and without --debug. A refresh already done is recognised unchanged.
COMMANDS = [
    ("sample-data", ["sample-data", "--out", "sample", "--scale", "0.02", "--quarters", "1"]),
    ("config-check", ["config", "check"]),
    ("config-check-period", ["config", "check", "--period", PERIOD]),
    ("validate", ["validate", "--period", PERIOD]),
    ("build", ["build", "--period", PERIOD, "--out", "maps", "--persona", "all"]),
    ("refresh-2025Q1", ["refresh", "--period", "2025Q1"]),
    ("refresh", ["refresh", "--period", PERIOD]),
    ("publish", ["publish"]),
    ("versions-list", ["versions", "list"]),
    ("versions-show", ["versions", "show", "all", PERIOD]),
    ("versions-verify", ["versions", "verify"]),
    ("diff", ["diff", "all", "2025Q1", PERIOD]),
    ("history", ["history", "all"]),
    ("catalog-suggest", ["catalog", "suggest", "--period", PERIOD, "--top", "2"]),
    ("init", ["init", "--out", "init", "--surveys", "data/2025Q2/surveys.csv", "--force"]),
]

# Secrets expanded from ${ENV} into places the configuration checks: each must be refused (exit 2)
# without the value.
MISCONFIGURED = {
    "unknown-key": lambda p: edit_yaml(p.main, lambda d: d["s3"].update(secret_access_key="${AWS_SECRET_ACCESS_KEY}")),
    "wrong-enum": lambda p: edit_yaml(p.main, lambda d: d["project"].update(language="${CJM_SMTP_PASSWORD}")),
    "not-a-number": lambda p: edit_yaml(p.main, lambda d: d["diff"].update(alpha="${AWS_SECRET_ACCESS_KEY}")),
    "persona-id": lambda p: edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0].update(id="${AWS_ACCESS_KEY_ID}")),
    "unknown-key-in-source": lambda p: edit_yaml(p.main, lambda d: d["sources"]["surveys"].update(password="${CJM_SMTP_PASSWORD}")),
}


# Commands that only read what the chain before them left (they run side by side once it is done),
# and commands that need nothing of it (they run beside it). The chain's writers run one at a time,
# in the order above; a command's run without --debug comes before its run with it.
AFTER_THE_CHAIN = ("versions-list", "versions-show", "versions-verify", "diff", "history")
BESIDE_THE_CHAIN = ("sample-data", "config-check", "config-check-period", "catalog-suggest", "init")


@pytest.fixture(scope="module")
def runs(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """{run id: (command line, completed process)} for every command, then every misconfiguration;
    and the project, for the files and objects they left.

    The 50 runs are new interpreters, each a second or more of start-up and S3 requests, so the
    independent ones run side by side (three at a time): the chain of writers (validate, build, the
    two refreshes, publish) in its order, beside it the commands that need nothing from it and the
    misconfigured copies (refused before they touch anything), and after it the readers."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    env = _env(s3_server)
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id=SECRETS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=SECRETS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=BUCKET)
    project = make_project(tmp_path_factory.mktemp("secrets"))
    _configure(project)
    # No command writes into cfg/: the copies are the same made now as after the commands.
    broken = {}
    for name, misconfigure in MISCONFIGURED.items():
        broken[name] = make_copy(project, tmp_path_factory.mktemp(f"secrets-{name}"))
        misconfigure(broken[name])
    done: dict = {}

    def run(name: str, args: list[str]) -> None:
        for debug in (False, True):
            done[f"{name}{'-debug' if debug else ''}"] = (args, _cjm(project, env, args, debug))

    def chain() -> None:
        for name, args in COMMANDS:
            if name not in AFTER_THE_CHAIN + BESIDE_THE_CHAIN:
                run(name, args)

    def misconfigured(name: str, args: list[str], debug: bool) -> None:
        done[f"misconfigured-{name}-{args[0]}{'-debug' if debug else ''}"] = (args, _cjm(broken[name], env, args, debug))

    with ThreadPoolExecutor(max_workers=3) as pool:
        first = [pool.submit(chain), *(pool.submit(run, name, args) for name, args in COMMANDS if name in BESIDE_THE_CHAIN),
                 *(pool.submit(misconfigured, name, args, debug) for name in MISCONFIGURED
                   for args in (["config", "check"], ["refresh", "--period", PERIOD]) for debug in (False, True))]
        first[0].result()
        then = [pool.submit(run, name, args) for name, args in COMMANDS if name in AFTER_THE_CHAIN]
        for future in [*first, *then]:
            future.result()
    return {"runs": done, "project": project, "s3": s3_server}


def make_copy(project: Project, target: Path) -> Project:
    import shutil

    shutil.copytree(project.cfg, target / "cfg")
    (target / "data").symlink_to(project.data)
    return Project(target)


def _leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


RUN_IDS = [f"{name}{suffix}" for name, _ in COMMANDS for suffix in ("", "-debug")] + [
    f"misconfigured-{name}-{cmd}{suffix}" for name in MISCONFIGURED for cmd in ("config", "refresh") for suffix in ("", "-debug")]


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_no_secret_in_the_output(runs: dict, run_id: str):
    args, result = runs["runs"][run_id]
    shown = f"cjm {' '.join(args)} (exit {result.returncode})\n--- stdout ---\n{result.stdout[-1500:]}\n--- stderr ---\n{result.stderr[-1500:]}"
    leaked = _leaks(result.stdout + result.stderr)
    assert not leaked, f"secrets {leaked} printed\n{shown}"
    if run_id.startswith("misconfigured-"):
        assert result.returncode == 2, f"a misconfiguration is a configuration error\n{shown}"
    else:
        assert result.returncode == 0, shown
    assert "unexpected error" not in result.stderr, shown


def test_commands_listed_are_every_command():
    """The list above is every command `cjm --help` shows: a new command gets checked too."""
    from typer.main import get_command

    from cjm_tasks.cli import app

    group = get_command(app)
    listed = set()
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        listed |= {f"{name} {s}" for s in sub} if sub else {name}
    covered = {" ".join(a[:2]) if a[0] in ("config", "versions", "catalog") else a[0] for _, a in COMMANDS}
    assert listed <= covered, f"not run with secrets: {sorted(listed - covered)}"


def test_no_secret_in_files_or_stored_objects(runs: dict):
    import boto3

    leaked = []
    for root in {runs["project"].root, *(p.parent for p in runs["project"].root.parent.glob("secrets-*/cfg"))}:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and "data" not in path.relative_to(root).parts[:1]:
                found = _leaks(path.read_bytes().decode("utf-8", "replace"))
                if found:
                    leaked.append(f"{path}: {found}")
    s3 = boto3.client("s3", endpoint_url=runs["s3"], region_name="us-east-1", aws_access_key_id="reader", aws_secret_access_key="reader")
    objects = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) for o in page.get("Contents", [])]
    assert objects, "nothing was stored in the bucket: the commands did not run against S3"
    for key in objects:
        found = _leaks(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8", "replace"))
        if found:
            leaked.append(f"s3://{BUCKET}/{key}: {found}")
    assert not leaked, "\n".join(leaked)
