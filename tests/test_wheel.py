"""The wheel as an operator installs it: built from the checkout, installed with its dependencies
into a new virtual environment in a temporary folder, then run from another temporary folder with
no path back to the checkout: `cjm sample-data` and `cjm refresh` publish a site using only the
configurations, templates and schema the wheel carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

PERIOD = "2025Q1"
# What the tool runs and reads, folder in the checkout: folder in the wheel. cjm_tasks holds its
# schemas/; cjm_demo is the sample-data simulator `cjm sample-data` runs.
PACKAGED = {"cjm_tasks": "cjm_tasks", "cjm_demo": "cjm_demo", "configs": "cjm_tasks/_data/configs",
            "templates": "cjm_tasks/_data/templates"}
SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def find_uv() -> list[str] | None:
    """The uv command: `uv` on PATH, else `python -m uv` from this or the system interpreter."""
    if shutil.which("uv"):
        return [shutil.which("uv")]
    for python in (sys.executable, shutil.which("python3")):
        if python and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "uv"]
    return None


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


def outside_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that leads back to the checkout or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"} and not k.startswith("CJM_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def uv() -> list[str]:
    command = find_uv()
    if command is None:
        pytest.skip("uv is not installed (`make uv` installs it): the wheel test builds and installs with uv")
    return command


@pytest.fixture(scope="module")
def wheel(uv: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([*uv, "build", "--wheel", "--out-dir", dist, REPO], cwd=dist, timeout=300)
    (built,) = dist.glob("cjm-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(uv: list[str], wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the wheel and its dependencies (no Airflow extra), versions as uv.lock pins.

    The lock is a constraint, not a requirement list: what gets installed is what the wheel's own
    metadata asks for, so a dependency missing from pyproject.toml fails here.
    """
    root = tmp_path_factory.mktemp("venv")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, root / name)
    run([*uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", "--output-file", "locked.txt"], cwd=root)
    venv = root / "venv"
    run([*uv, "venv", "--quiet", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", venv], cwd=root)
    python = venv / "bin" / "python"
    run([*uv, "pip", "install", "--quiet", "--python", python, "--constraint", root / "locked.txt", wheel], cwd=root)
    return python


def test_the_wheel_carries_configs_templates_schemas_and_the_demo(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for source, target in PACKAGED.items():
        files = [p.relative_to(REPO / source).as_posix() for p in (REPO / source).rglob("*")
                 if p.is_file() and not SKIP_PARTS & set(p.parts) and p.suffix != ".pyc"]
        assert files, source
        missing = sorted(f for f in files if f"{target}/{f}" not in names)
        assert not missing, f"{source}/ files missing from the wheel: {missing}"
    assert {"cjm_tasks/schemas/map.schema.json", "cjm_tasks/_data/configs/cjm.yaml", "cjm_demo/__init__.py"} <= names
    assert not {n for n in names if n.startswith(("tests/", "dags/", "configs/", "templates/", "build/"))}


def test_the_installed_package_is_the_wheel_not_the_checkout(venv_python: Path, tmp_path: Path):
    code = ("import cjm_tasks, cjm_demo; from cjm_tasks.resources import configs_dir, templates_dir; "
            "print(cjm_tasks.__file__, cjm_demo.__file__, configs_dir(), templates_dir(), sep='\\n')")
    paths = [Path(line) for line in run([venv_python, "-c", code], cwd=tmp_path, env=outside_env()).splitlines()]
    site_packages = venv_python.parents[1] / "lib"
    for path in paths:
        assert path.is_relative_to(site_packages) and "site-packages" in path.parts, path
        assert not path.resolve().is_relative_to(REPO), path
    assert paths[2].parts[-2:] == ("_data", "configs") and paths[3].parts[-2:] == ("_data", "templates")


def test_sample_data_and_a_refresh_publish_a_site(venv_python: Path, tmp_path: Path):
    cjm = venv_python.parent / "cjm"
    # The bundled default configuration (configs/cjm.yaml inside the wheel), its locations moved
    # out of build/ with the environment variables it reads.
    env = outside_env(CJM_SAMPLE_DATA=str(tmp_path / "sample"), CJM_WORK_LOCATION=str(tmp_path / "work"),
                      CJM_STORE_LOCATION=str(tmp_path / "store"), CJM_SITE_LOCATION=str(tmp_path / "site"))
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    run([cjm, "sample-data", "--out", tmp_path / "sample", "--quarters", "1", "--start", PERIOD, "--scale", "0.2"], cwd=cwd, env=env)
    assert (tmp_path / "sample" / PERIOD / "surveys.csv").is_file()
    run([cjm, "refresh", "--period", PERIOD], cwd=cwd, env=env)
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "periods" / PERIOD / "index.html").is_file()
    persona_pages = sorted(site.glob(f"personas/*/{PERIOD}-r1/index.html"))
    assert persona_pages and "<html" in persona_pages[0].read_text(encoding="utf-8").lower()
    assert not list(cwd.iterdir()), "nothing is written into the working directory"
