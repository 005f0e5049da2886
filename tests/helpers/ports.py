"""Free ports by binding to port 0: never a fixed port in a test.

One definition, in the lab (``hostgate.cli.lab``: the demo and the benches need it too, and ``src`` cannot
import ``tests``); the tests import it from here.
"""

from __future__ import annotations

from hostgate.cli.lab import common_free_port, free_port

__all__ = ["common_free_port", "free_port"]
