"""The capture part of ``hostgate demo`` (issue #22): the members allow console capture of the demo's own VT
host (``[capture] hosts`` written into each member's hostgate.toml before it starts), and a model is captured
from it through the console's Capture actions (the JSON the page's script sends) and checked with
``hostgate model check``."""

from __future__ import annotations

import re
import ssl
import tomllib
from pathlib import Path

import httpx
import tomli_w

from hostgate.cli.demo_steps import Claim, Shell, say, shown
from hostgate.cli.lab import Installation, Member, VtTestHost
from hostgate.cli.output import console

__all__ = ["allow_capture", "capture_in_console"]


def allow_capture(member: Member, host: VtTestHost) -> None:
    """``[capture] hosts`` of ``member``'s hostgate.toml: the demo's VT host (read at the member's start)."""
    path = member.data_dir / "hostgate.toml"
    settings = tomllib.loads(path.read_text())
    settings["capture"] = {**settings.get("capture", {}), "hosts": [f"{host.address}:{host.port}"]}
    path.write_text(tomli_w.dumps(settings))


def capture_in_console(inst: Installation, shell: Shell, host: VtTestHost) -> list[Claim]:
    member = next(m for m in inst.members if not m.stopped and m.health() is not None)
    base = member.url
    say(
        f"Capturing a model in the web console of {member.name} ({base}/console/capture) from the VT demo host "
        f"{host.address}:{host.port}, allowed by \\[capture] hosts in its hostgate.toml:"  # \\[: not rich markup
    )
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    with httpx.Client(base_url=base, verify=ctx, timeout=60.0) as c:
        form = c.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None, "the console's login form has no token"
        login = c.post(
            "/console/login",
            json={"user": "admin", "password": inst.password, "csrf": token.group(1)},
            headers={"Accept": "application/json"},
        )
        login.raise_for_status()
        headers = {"X-CSRF-Token": login.json()["csrf"], "Accept": "application/json"}

        def act(action: str, body: dict[str, object]) -> dict[str, object]:
            answer = c.post(f"/console/capture/{action}", json=body, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"capture {action}: {answer.text}")
            result: dict[str, object] = answer.json()
            return result

        act("start", {"host": f"{host.address}:{host.port}", "type": "vt", "model": "demo_captured"})
        try:
            draft = act("propose-entity", {"name": "SignOn"})["draft"]
            assert isinstance(draft, dict)
            rules = draft["rules"]
            assert isinstance(rules, list)
            console.print(
                f"   the sign-on screen marked as entity SignOn: {len(rules)} recognition rules proposed"
            )
            act("add-attribute", {"name": "title", "row": 1, "col": 1, "length": 20})
            draft = act("propose-entity", {"name": "SignOn"})["draft"]
            assert isinstance(draft, dict)
            act("add-entity", {"name": "SignOn", "rules": draft["rules"], "attributes": draft["attributes"]})
            text = c.get("/console/capture/model.yaml").text
        finally:
            act("end", {})
    path = inst.root / "demo_captured.yaml"
    path.write_text(text)
    console.print(f"   downloaded the model to {path}")
    with shown(inst, shell):
        checked = inst.hostgate("model", "check", str(path), check=False)
    console.print(checked.stdout.rstrip(), markup=False, highlight=False)
    return [
        Claim(
            "a model captured in the web console passes `model check`",
            f"{Path(path).name}: exit {checked.returncode}",
            checked.returncode == 0,
        )
    ]
