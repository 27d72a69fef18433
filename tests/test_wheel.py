"""An installed wheel works outside the checkout (issue 17, point 5): the configuration defaults, the SQL, the
templates, the synth profiles and the allotropy driver are package data found through importlib.resources,
not paths next to a source tree.

The wheel is built as a release is: sdist, then the wheel from the sdist (the stricter path: the sdist
skips the checkout's symlinks and must carry copies), with uv, offline from uv's cache when it can (as
`make install` leaves it), else from PyPI. It is installed with --no-deps into a fresh virtual environment
whose dependencies come from the project's own environment through a .pth line — a plain path entry, so
the editable install's .pth inside it (which would put the checkout on sys.path) is not processed: every
project module must come from the wheel, which the test checks module by module. Everything then runs
from a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("biomarkers", "flows", "schemas", "warehouse", "readers", "pipeline", "assay", "synth", "service")

# Runs inside the wheel's environment, from a folder outside the checkout.
SMOKE = """
import importlib, json, sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from readers.allotropy_fallback import ORACLE_SCRIPT
from schemas import settings
from schemas.config import DEFAULT_CONFIG_DIR, load_config
from schemas.operations import load_operations
from schemas.service import load_service_config
from synth.generator import DEFAULT_PROFILES, check_profiles, load_profiles
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore

packages = sys.argv[1].split(",")
config = load_config()
load_operations()
load_service_config()
check_profiles(load_profiles(), config)
# service.app's TEMPLATES and registry.py's DDL are these (importing the app costs 4 s of CPU)
TEMPLATES = settings.package_path("service", "templates")
Environment(loader=FileSystemLoader(TEMPLATES)).get_template("upload.html")
settings.package_path("service", "registry.sql").read_text(encoding="utf-8")
with WriterStore(WarehousePaths.at(Path("wh")), actor="wheel test") as store:
    report = publish(store, config=config)  # ddl.sql, analyst_views.sql, sample_views.sql
import duckdb
con = duckdb.connect(str(WarehousePaths.at(Path("wh")).analyst_db), read_only=True)
views = sorted(r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
print(json.dumps({
    "modules": {p: importlib.import_module(p).__file__ for p in packages},
    "config_dir": str(DEFAULT_CONFIG_DIR),
    "config_dir_is_symlink": DEFAULT_CONFIG_DIR.is_symlink(),
    "config_source": str(config.source_dir),
    "study": config.study.study_id,
    "oracle_script": str(ORACLE_SCRIPT),
    "oracle_script_exists": ORACLE_SCRIPT.is_file(),
    "profiles": str(DEFAULT_PROFILES),
    "templates": str(TEMPLATES),
    "data_dir": str(settings.data_dir()),
    "published": report is not None,
    "views": views,
}))
"""


def _uv() -> str:
    found = shutil.which("uv") or (
        str(REPO / ".tools" / "bin" / "uv") if (REPO / ".tools/bin/uv").is_file() else ""
    )
    if not found:
        pytest.skip("uv not found (on PATH or .tools/bin/uv; `make install` puts it there)")
    return found


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def test_installed_wheel_finds_its_data_outside_the_checkout(tmp_path: Path) -> None:
    uv = _uv()
    dist = tmp_path / "dist"
    build = [uv, "build", "--quiet", "--out-dir", str(dist), str(REPO)]
    r = _run([*build, "--offline"])  # hatchling from uv's cache (as `make install` leaves it)...
    if r.returncode != 0:
        r = _run(build)  # ...or from PyPI
    assert r.returncode == 0, r.stderr
    (wheel,) = dist.glob("bct_biomarkers-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    # every file of config/ and of the oracle's project (pyproject.toml's sdist force-include lists them)
    for folder, packaged in (("config", "schemas/default_config"), ("oracle", "readers/allotropy_oracle")):
        for f in (REPO / folder).iterdir():
            assert f"{packaged}/{f.name}" in names, f"{folder}/{f.name} is not in the wheel as {packaged}/"

    venv = tmp_path / "venv"
    r = _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    assert r.returncode == 0, r.stderr
    python = venv / "bin" / "python"
    r = _run([uv, "pip", "install", "--quiet", "--offline", "--no-deps", "--python", str(python), str(wheel)])
    assert r.returncode == 0, r.stderr
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_project_deps.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIOMARKERS_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    r = _run([str(python), "-c", SMOKE, ",".join(PACKAGES)], cwd=outside, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])

    resolved_site = site.resolve()
    for package, file in got["modules"].items():
        assert Path(file).resolve().is_relative_to(resolved_site), (
            f"{package} imported from {file}, not the wheel"
        )
    for key in ("config_dir", "config_source", "oracle_script", "profiles", "templates"):
        assert Path(got[key]).is_relative_to(resolved_site), f"{key}: {got[key]} is not in the wheel"
    assert not got["config_dir_is_symlink"]  # the build followed the checkout's symlink: real files
    assert got["study"]
    assert got["oracle_script_exists"]
    # no checkout: the data folder is the user's, never site-packages
    assert got["data_dir"] == str((tmp_path / "xdg" / "bct-biomarkers").resolve())
    assert got["published"]
    assert {"results", "results_wide", "samples", "sample_status"} <= set(got["views"])

    r = _run([str(venv / "bin" / "biomarkers"), "--help"], cwd=outside, env=env)
    assert r.returncode == 0 and "ingest" in r.stdout, r.stderr[-2000:]
