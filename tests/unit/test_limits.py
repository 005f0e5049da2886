"""runtime/limits.py in a child process whose open-file limits ``prlimit(1)`` set (this process keeps its own)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")

_PROBE = (
    "import logging, resource, sys;"
    "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(levelname)s %(message)s');"
    "from hostgate.runtime.limits import connection_cap;"
    "cap = connection_cap(int(sys.argv[1]), int(sys.argv[2]));"
    "print('CAP', cap.effective, *resource.getrlimit(resource.RLIMIT_NOFILE))"
)


def _probe(nofile: str, configured: int, faces: int) -> tuple[list[int], str]:
    out = subprocess.run(
        ["prlimit", f"--nofile={nofile}", sys.executable, "-c", _PROBE, str(configured), str(faces)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("CAP "))
    return [int(v) for v in line.split()[1:]], out


def test_the_soft_limit_is_raised_to_the_hard_one_and_the_cap_kept() -> None:
    (effective, soft, hard), out = _probe("300:5000", 4096, 1)
    assert (effective, soft, hard) == (4096, 5000, 5000)
    assert "INFO connection cap 4096 per HTTP face (open-file limit 5000)" in out


def test_a_hard_limit_too_low_for_the_cap_lowers_it_with_a_warning() -> None:
    # Two faces (a management member that is a session server too) share what is left after the reserve.
    (effective, soft, hard), out = _probe("1000:1000", 4096, 2)
    assert (effective, soft, hard) == ((1000 - 256) // 2, 1000, 1000)
    assert "WARNING connection cap 372 per HTTP face, below [security] max_connections = 4096" in out
