"""``hostgate model capture``: author a model from a live host (issue #22), or replay one against it.

The command checks everything it can before it connects (the address, --out against --resume, that it runs in
a terminal large enough for the host screen + 3 lines), so a refusal changes nothing; then it opens the
session, hands the screen to the TUI (capture/tui.py) and writes the model only when the user asks (Ctrl-W,
or the save offered at Ctrl-Q). The engine behind it is capture/engine.py; --replay is capture/replay.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hostgate.capture.faces import parse_host, terminal_for
from hostgate.cli.output import handle_errors
from hostgate.errors import (
    CaptureOutputExists,
    CaptureWriteFailed,
    TerminalRequired,
    TerminalTooSmall,
    UsageError,
)
from hostgate.models import HostSpec, HostType, load_model
from hostgate.models.host import Terminal

if TYPE_CHECKING:
    from hostgate.capture.faces import FaceRecorder

__all__ = ["capture", "parse_host", "terminal_for"]

EXTRA_ROWS = 3  # status, help and message lines under the host screen (capture/_tui_view.py)


def _check_terminal(terminal: Terminal) -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise TerminalRequired(
            "`hostgate model capture` draws a full-screen UI: stdin and stdout must be a terminal"
        )
    cols, rows = os.get_terminal_size(sys.stdout.fileno())
    need_rows, need_cols = terminal.rows + EXTRA_ROWS, terminal.cols
    if rows < need_rows or cols < need_cols:
        raise TerminalTooSmall(
            f"this terminal is {cols}x{rows} (columns x rows); capturing from a {terminal.type} host "
            f"({terminal.cols}x{terminal.rows}) needs at least {need_cols}x{need_rows}"
        )


def write_model(path: Path, text: str) -> str:
    """Write ``text`` to ``path`` whole or not at all (a temporary file in the same directory, renamed)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CaptureWriteFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
    return f"wrote {path}"


def _recorder(spec: HostSpec, name: str, resume: Path | None) -> FaceRecorder:
    from hostgate.capture.engine import CaptureRecorder

    recorder: FaceRecorder = CaptureRecorder(spec, name=name, resume=resume)
    return recorder


def _capture(spec: HostSpec, out: Path, resume: Path | None, name: str) -> None:
    import curses

    from hostgate.capture.tui import CaptureTui

    recorder = _recorder(spec, name, resume)  # first: it refuses a --resume model of another host
    loop = asyncio.new_event_loop()
    saved: list[str] = []

    def save(text: str) -> str:
        message = write_model(out, text)
        saved.append(message)
        return message

    try:
        loop.run_until_complete(recorder.start())
        # Esc is a key of its own here (cancel, PA prefix): wait 25 ms, not curses's default 1 s, for the rest
        # of an escape sequence.
        os.environ.setdefault("ESCDELAY", "25")
        app = CaptureTui(
            recorder,
            run=loop.run_until_complete,
            host=f"{spec.address}:{spec.port}",
            terminal=spec.terminal.type,
            block_mode=spec.type is not HostType.VT,
            save=save,
        )
        curses.wrapper(app.main)
    finally:
        loop.run_until_complete(recorder.close())
        loop.close()
    entities = len(recorder.entities)
    if saved:
        click.echo(
            f"Captured {entities} entities; the model is in {out} (check it: hostgate model check {out})."
        )
    else:
        click.echo(f"Captured {entities} entities; nothing written (the capture was not saved).")


def _replay_values(model_path: Path, given: tuple[str, ...]) -> dict[str, str]:
    """--value NAME=VALUE pairs; a hidden variable with no default (a captured password) and no --value is
    asked for without echo when stdin is a terminal (never put a password on a command line: ps shows it)."""
    values: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--value {item!r} is not NAME=VALUE")
        values[name] = value
    if sys.stdin.isatty():
        for variable in load_model(model_path).variables:
            if variable.hidden and not variable.default and variable.name not in values:
                values[variable.name] = click.prompt(
                    f"{variable.name} (hidden variable, for the replay)",
                    hide_input=True,
                    default="",
                    show_default=False,
                )
    return values


def _replay(model_path: Path, host: str | None, given: tuple[str, ...]) -> int:
    from hostgate.capture.replay import format_report, run_replay

    address, port = parse_host(host) if host else (None, None)
    values = _replay_values(model_path, given)
    report = asyncio.run(run_replay(model_path, values=values, address=address, port=port))
    click.echo(format_report(report, str(model_path)))
    return 0 if report.ok else 1


@click.command("capture")
@click.option("--host", "host", metavar="ADDRESS:PORT", help="The terminal host to capture from.")
@click.option(
    "--type",
    "kind",
    type=click.Choice([t.value for t in HostType]),
    help="The kind of host: 3270, 5250 or vt.",
)
@click.option(
    "--terminal", metavar="TYPE", help="Terminal type to claim (default IBM-3278-2, IBM-3179-2, vt220)."
)
@click.option("--size", metavar="ROWSxCOLS", help="VT hosts only: the screen size to claim (default 24x80).")
@click.option("--tls", is_flag=True, help="Connect with TLS (the host's certificate is verified).")
@click.option(
    "--tls-ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --tls: PEM CA certificates to verify the host with instead of the system's (5250 and VT).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The model file to write.")
@click.option(
    "--resume",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Add to this existing model (its entities are kept; --out may name the same file).",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Instead of capturing: walk every operation of this model against its host (--host overrides the "
    "model's address) and report those that no longer land where the model says; exit 1 if any.",
)
@click.option(
    "--value",
    "values",
    multiple=True,
    metavar="NAME=VALUE",
    help="--replay: a parameter or variable value (repeatable); hidden ones without a default are asked for.",
)
@click.option("--name", metavar="NAME", help="The model's name (default: the --out file's name).")
@handle_errors
def capture(
    host: str | None,
    kind: str | None,
    terminal: str | None,
    size: str | None,
    tls: bool,
    tls_ca_file: Path | None,
    out: Path | None,
    resume: Path | None,
    replay: Path | None,
    values: tuple[str, ...],
    name: str | None,
) -> None:
    """Capture a model from a live host in a full-screen terminal UI: drive the host as with a terminal
    emulator while every screen you mark becomes an entity (Ctrl-E), the keys typed between two marked screens
    an operation, and marked rows a recordset (Ctrl-R); Ctrl-W writes --out, Ctrl-Q quits, Ctrl-G lists the
    keys (docs/models.md, "Capturing a model"). Needs a terminal at least the host screen + 3 lines high
    (27x80 for a 24x80 host). With --replay MODEL: walk every operation of MODEL against its host instead and
    report the ones that no longer land where the model says (exit 1 when any is found)."""
    if tls_ca_file is not None and not tls:
        raise UsageError("--tls-ca-file is for a TLS connection: add --tls")
    if replay is not None:
        if out is not None or resume is not None:
            raise UsageError("--replay checks an existing model: it takes no --out or --resume")
        raise SystemExit(_replay(replay, host, values))
    missing = [flag for flag, value in (("--host", host), ("--type", kind), ("--out", out)) if value is None]
    if missing:
        raise UsageError(f"capturing needs {', '.join(missing)} (or --replay MODEL)")
    assert host is not None and kind is not None and out is not None
    address, port = parse_host(host)
    host_type = HostType(kind)
    term = terminal_for(host_type, terminal, size)
    if out.exists() and (resume is None or resume.resolve() != out.resolve()):
        raise CaptureOutputExists(f"--out {out} exists; nothing was captured or written")
    if not out.parent.is_dir():
        raise CaptureWriteFailed(f"cannot write {out}: the directory {out.parent} does not exist")
    spec = HostSpec(
        type=host_type,
        address=address,
        port=port,
        terminal=term,
        tls=tls,
        tls_ca_file=str(tls_ca_file) if tls_ca_file is not None else "",
        encoding="utf8" if host_type is HostType.VT else "cp037",
    )
    _check_terminal(term)
    _capture(spec, out, resume, name or out.stem.replace("-", "_").replace(".", "_"))
