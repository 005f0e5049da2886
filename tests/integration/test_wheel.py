"""The wheel (issue #21): built from a copy of the checkout, it carries the sample models, the model schema, the
demo hosts, the console's and the Explorer's files and py.typed; installed into a fresh venv, `hostgate` runs
from a directory outside the repository and finds its samples in the package, not in a checkout.

The fresh venv reuses this venv's installed dependencies through a .pth line (a venv cannot be made with
--system-site-packages on top of another venv). A path line in a .pth does not run that directory's own .pth
files, so the checkout's editable hostgate stays invisible there: the test checks which hostgate was imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTGATE_", "PYTHON", "PIP_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    # A copy, so that the build's build/ and *.egg-info never land in the checkout other tests read.
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = work / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", dist, source],
        cwd=work,
    )  # fmt: skip
    (built,) = dist.glob("hostgate-*.whl")
    return built


def test_the_wheel_carries_the_data_the_demo_and_the_samples_need(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        meta = whl.read(metadata).decode()
    for shipped in (
        "hostgate/samples/models/demo3270.yaml",
        "hostgate/samples/models/demo5250.yaml",
        "hostgate/samples/models/demovt.yaml",
        "hostgate/model.schema.json",
        "hostgate/testhosts/vthost.py",
        "hostgate/testhosts/mfhost.py",
        "hostgate/py.typed",
        "hostgate/console/templates/base.html",
        "hostgate/console/static/console.css",
        "hostgate/webservices/explorer_static/index.html",
        "hostgate/webservices/scaffold_templates/client.py.tmpl",
    ):
        assert shipped in names, f"{shipped} is not in {wheel.name}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "samples/", "docs/")) for n in names)
    assert "License-Expression: Apache-2.0" in meta
    assert "Classifier: Typing :: Typed" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not [r for r in requires if "==" in r.split(";")[0]], "the metadata pins exactly"
    assert "Requires-Dist: starlette<2,>=1.10.0" in requires


def test_the_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "fresh venv"  # a space in the path, as pipx's own paths may have
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
        ).stdout.strip()
    )
    (purelib / "hostgate-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    hostgate = venv / "bin" / "hostgate"

    version = _run([hostgate, "--version"], cwd=elsewhere).stdout
    assert version.startswith("hostgate 0.1.0\n") and f"({python})" in version

    where = _run(
        [python, "-c", "import hostgate, hostgate._package_data as d; print(hostgate.__file__); "
         "print(d.host_app('vthost.py'))"],
        cwd=elsewhere,
    ).stdout.splitlines()  # fmt: skip
    shipped = _run([hostgate, "samples"], cwd=elsewhere).stdout.splitlines()
    assert [Path(p).name for p in shipped] == [
        "demo3270.yaml",
        "demo5250.yaml",
        "demovt.yaml",
        "model.schema.json",
    ]
    for path in [*where, *shipped]:
        assert Path(path).is_relative_to(purelib) and not Path(path).is_relative_to(ROOT), path
        assert Path(path).is_file(), path

    for sample in shipped[:3]:
        checked = _run([hostgate, "model", "check", sample], cwd=elsewhere).stdout
        assert Path(sample).stem in checked
