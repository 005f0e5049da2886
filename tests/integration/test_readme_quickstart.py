"""The README's quick start works as written (issue #21): its shell block and its connector snippet are run
against a real lone server, session server and VT test host, on loopback, without DNS and without root.

The only changes are explicit substitutions, each of which must match exactly once (so the README cannot drift
from this test): a temporary ``$HG``, free ports instead of 9440 / 9450 / 6023 (tests never use fixed ports),
and a copy of the VT sample pointing at the test host's free port.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostgate.cli.lab import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _block(marker: str, lang: str) -> str:
    text = README.read_text()
    after = text.split(f"<!-- quickstart:{marker} -->", 1)[1]
    found = re.match(rf"\s*```{lang}\n(.*?)\n```", after, re.S)
    assert found, f"no ```{lang} block after the quickstart:{marker} marker"
    return found.group(1)


def _substitute(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        assert text.count(old) == 1, f"README quick start: expected {old!r} exactly once"
        text = text.replace(old, new)
    return text


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    hg = tmp_path / "hg"
    api, session, vt = free_port("127.0.0.1"), free_port("127.0.0.2"), free_port("127.0.0.1")
    sample = (ROOT / "samples" / "models" / "demovt.yaml").read_text()
    model = tmp_path / "demovt.yaml"
    model.write_text(re.sub(r"(?m)^(  port: )6023$", rf"\g<1>{vt}", sample))
    shell = _substitute(
        _block("shell", "sh"),
        {
            "export HG=$HOME/hostgate-quickstart PORT=9440": f"export HG={shlex.quote(str(hg))} PORT={api}",
            "--port 9450": f"--port {session}",
            "hostgate testhost vt": f"hostgate testhost vt --port {vt}",
            "model deploy samples/models/demovt.yaml": f"model deploy {shlex.quote(str(model))}",
        },
    )
    python = _block("python", "python")
    script = "\n".join(
        [
            "set -euo pipefail",
            # Stop what the quick start left running (the member, the session server, the test host).
            "trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT",
            # Quoted: the checkout (so its venv) may sit at a path with spaces.
            f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"',
            shell,
            f"{shlex.quote(sys.executable)} - <<'PY'\n{python}\nPY",
            "echo QUICKSTART-DONE",
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    with subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a hung run is stopped whole, below
    ) as proc:
        try:
            out, err = proc.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in hg.glob("*.log"))
            raise AssertionError(f"the quick start hung:\n{out}\n{err}\n{logs}") from None
    assert proc.returncode == 0 and "QUICKSTART-DONE" in out, f"{out}\n{err}"
    assert "quickstart" in out and "m1" in out  # cluster status and the hosts-file lines
    assert "127.0.0.1 m1 quickstart" in out
    lines = out.splitlines()
    assert "Menu" in lines
    assert "['CUSTOMER 01', 'CUSTOMER 02', 'CUSTOMER 03']" in lines
    assert "CUSTOMER 06" in out  # the query: customers in CITY1 (1, 6, 11, ...)
