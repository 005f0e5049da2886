"""How ``hostgate server`` logs: to stderr always (what journald collects under systemd), and to a file unless
``[log] file = ""``; as text or as JSON lines (docs/operations.md, "Logs").

A JSON record is one object per line: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``,
``message``, ``server`` (this server's name), ``request_id`` while a request is being answered (the same id as
its ``X-Request-Id`` header and error body), and ``exception`` (the formatted traceback) when there is one. No
rotation: under systemd journald rotates; the optional file is for servers run by hand (logrotate with
``copytruncate`` works on it).
"""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

from hostgate._http import CURRENT_REQUEST_ID
from hostgate.config.settings import LOG_FORMATS, LOG_LEVELS, Settings

__all__ = ["JsonFormatter", "configure_logging"]

_HANDLER_MARK = "_hostgate_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message's own newlines are escaped by ``json.dumps``)."""

    def __init__(self, server: str) -> None:
        super().__init__()
        self._server = server

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, str] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "server": self._server,
        }
        request_id = CURRENT_REQUEST_ID.get()
        if request_id:
            out["request_id"] = request_id
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """The text format, with ``[request ID]`` after the level while a request is being answered."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = CURRENT_REQUEST_ID.get()
        return text if not request_id or request_id in text else f"{text} [request {request_id}]"


def configure_logging(settings: Settings, *, level: str | None = None, fmt: str | None = None) -> None:
    """Set up the root logger for a server process (``level``/``fmt`` from the command line win over
    ``[log]``). Handlers set up by an earlier call in the same process are replaced, not doubled."""
    chosen_level = (level or settings.log.level).lower()
    chosen_format = fmt or settings.log.format
    assert chosen_level in LOG_LEVELS and chosen_format in LOG_FORMATS  # checked by the CLI and load_settings
    server = settings.server.member_name
    formatter: logging.Formatter = (
        JsonFormatter(server)
        if chosen_format == "json"
        else _TextFormatter(f"%(asctime)s {server} %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log.file:
        path = settings.path(settings.log.file)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    root.setLevel(chosen_level.upper())
    # uvicorn's access log is off (runtime/server.py); these two log every request at INFO.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
