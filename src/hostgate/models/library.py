"""A directory of deployed models (``DATA_DIR/models/NAME.yaml``): deploy atomically, read with reload on change.

A session server serves the models in its models directory. :func:`deploy_model` validates a whole model
first and only then puts it in place with one ``rename`` (a refused model changes nothing, the previous
version stays). :class:`ModelLibrary` loads a model when a session asks for it and loads it again when its
file changed (modification time, size or inode), so a deployed model is used by the next new session without a
restart. A file that no longer validates keeps the last good version in service and is logged once with its
code; sessions already open keep the model they started with.

    library = ModelLibrary(Path("/var/lib/hostgate-session/models"))
    deploy_model(Path("orders.yaml"), library.directory)
    model = library.get("orders")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hostgate.errors import ModelError, ModelIssue, ModelNotFound
from hostgate.models.loader import load_model
from hostgate.models.spec import Model

__all__ = [
    "MODEL_SUFFIX",
    "DeployedModel",
    "ModelLibrary",
    "activate_text",
    "deploy_model",
    "model_file_name",
    "restore_model",
    "text_digest",
    "withdraw_model",
]

log = logging.getLogger("hostgate.models.library")

MODEL_SUFFIX = ".yaml"
# A model's name becomes its file name: no path separators, no hidden files, nothing a shell would mangle.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\Z")


def model_file_name(name: str) -> str:
    """The file a model called ``name`` is deployed as; ModelError if the name cannot be a file name."""
    if not _FILE_NAME.match(name) or name.endswith("."):
        raise ModelError(
            f"model name {name!r} cannot be deployed: use letters, digits, '_', '.' or '-' (at most 100)",
            issues=[ModelIssue("name", "must be letters, digits, '_', '.' or '-' to be deployed")],
        )
    return name + MODEL_SUFFIX


@dataclass(frozen=True, slots=True)
class DeployedModel:
    """A model as loaded from the library: the model, its file, and the digest of the text it came from."""

    model: Model
    path: Path
    digest: str


@dataclass(frozen=True, slots=True)
class _Stamp:
    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> _Stamp | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


def _load(path: Path, expected_name: str) -> DeployedModel:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    try:
        model = load_model(text)
    except ModelError as exc:
        listing = "\n".join(f"  {issue}" for issue in exc.issues) or f"  {exc.message}"
        raise type(exc)(f"{path}: the model is invalid:\n{listing}", issues=exc.issues) from None
    if model.name != expected_name:
        raise ModelError(
            f"{path}: the file declares model {model.name!r}; a deployed model's file is named after it",
            issues=[ModelIssue("name", f"is {model.name!r}, but the file is {path.name}")],
        )
    return DeployedModel(model, path, text_digest(text))


def text_digest(text: str) -> str:
    """The digest a deployed model is known by (sessions' ``model_digest``, deployment records)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _try_load(path: Path, expected_name: str) -> DeployedModel | ModelError:
    try:
        return _load(path, expected_name)
    except ModelError as exc:
        return exc


class ModelLibrary:
    """The models of one directory, loaded on demand and reloaded when their file changes.

    Not thread-safe by itself; the session server uses it from its event loop only (``get_async`` loads on a
    worker thread but reads and writes this object on the loop). ``get`` costs one ``stat`` when nothing
    changed.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[str, tuple[_Stamp, DeployedModel]] = {}
        self._refused: dict[str, _Stamp] = {}

    def names(self) -> list[str]:
        """The names of the model files in the directory (valid or not), sorted."""
        try:
            entries = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        return sorted(p.name[: -len(MODEL_SUFFIX)] for p in entries if _is_model_file(p))

    def get(self, name: str) -> DeployedModel:
        """The current good version of model ``name``; ModelNotFound (HG-6108) when there is none."""
        found = self._held_or_stale(name)
        if isinstance(found, DeployedModel):
            return found
        path, stamp = found
        return self._loaded_or_refused(name, path, stamp, _try_load(path, name))

    async def get_async(self, name: str) -> DeployedModel:
        """As :meth:`get`, but a (re)load runs on a worker thread: the session server calls this at each session
        open, and a big or hostile model file must not stall its event loop (issue #15, finding 7)."""
        found = self._held_or_stale(name)
        if isinstance(found, DeployedModel):
            return found
        path, stamp = found
        outcome = await asyncio.to_thread(_try_load, path, name)
        return self._loaded_or_refused(name, path, stamp, outcome)

    def _held_or_stale(self, name: str) -> DeployedModel | tuple[Path, _Stamp]:
        """The model when nothing changed since it was loaded (or refused); else its file and stamp to load."""
        if not _FILE_NAME.match(name):
            raise ModelNotFound(self._unknown(name))
        path = self.directory / (name + MODEL_SUFFIX)
        stamp = _Stamp.of(path)
        held = self._loaded.get(name)
        if stamp is None:
            # A removed file withdraws the model from new sessions (VHI: deactivate).
            self._loaded.pop(name, None)
            self._refused.pop(name, None)
            raise ModelNotFound(self._unknown(name))
        if held is not None and held[0] == stamp:
            return held[1]
        if self._refused.get(name) == stamp:
            if held is not None:
                return held[1]
            raise ModelNotFound(f"model {name!r} on this session server does not validate (see its log)")
        return path, stamp

    def _loaded_or_refused(
        self, name: str, path: Path, stamp: _Stamp, outcome: DeployedModel | ModelError
    ) -> DeployedModel:
        held = self._loaded.get(name)
        if isinstance(outcome, ModelError):
            exc = outcome
            self._refused[name] = stamp
            kept = "keeping the version loaded before" if held else "no earlier version to keep"
            log.error("[%s] %s (%s)", exc.code, exc.message, kept)
            if held is not None:
                return held[1]
            raise ModelNotFound(
                f"model {name!r} on this session server does not validate: {exc.message.splitlines()[0]}"
            )
        if held is not None:
            log.info("model %s reloaded from %s (%s)", name, path, outcome.digest)
        self._loaded[name] = (stamp, outcome)
        self._refused.pop(name, None)
        return outcome

    def check_all(self) -> dict[str, DeployedModel | ModelError]:
        """Every model file of the directory, loaded afresh: the model or why it is refused."""
        found: dict[str, DeployedModel | ModelError] = {}
        for name in self.names():
            try:
                found[name] = _load(self.directory / (name + MODEL_SUFFIX), name)
            except ModelError as exc:
                found[name] = exc
        return found

    def _unknown(self, name: str) -> str:
        known = ", ".join(self.names()) or "none"
        return f"this session server has no model {name!r} (models: {known})"


def _is_model_file(path: Path) -> bool:
    return path.name.endswith(MODEL_SUFFIX) and not path.name.startswith(".") and path.is_file()


def deploy_model(source: Path, directory: Path) -> tuple[Model, Path, bool]:
    """Validate the model file ``source`` whole, then put it into ``directory`` atomically.

    Returns (model, deployed path, whether an earlier version was replaced). Raises ModelError (HG-6001)
    listing every issue, with nothing written, when the model is invalid.
    """
    model = load_model(source)
    target = directory / model_file_name(model.name)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {source}: {exc.strerror}") from exc
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        # The bytes that go live are the bytes validated now (the source may change under us).
        _load(tmp, model.name)
        replaced = target.exists()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)
    return model, target, replaced


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(directory: Path, name: str, data: bytes, *, validate: bool) -> None:
    """``data`` as ``directory/NAME.yaml`` by one rename (validated again from the temporary file)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model_file_name(name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        if validate:
            _load(tmp, name)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def _current(directory: Path, name: str) -> bytes | None:
    try:
        return (directory / model_file_name(name)).read_bytes()
    except FileNotFoundError:
        return None


def activate_text(text: str, name: str, directory: Path) -> bytes | None:
    """Put the model text ``text`` (already validated whole, named ``name``) in service atomically, as
    :func:`deploy_model` does for a file; returns the bytes it replaced (``None``: there was none), which
    :func:`restore_model` puts back when the deployment cannot be recorded."""
    previous = _current(directory, name)
    _write_atomically(directory, name, text.encode(), validate=True)
    return previous


def withdraw_model(name: str, directory: Path) -> bytes | None:
    """Take model ``name`` out of service for new sessions (open ones keep theirs); returns its bytes."""
    previous = _current(directory, name)
    if previous is not None:
        with contextlib.suppress(FileNotFoundError):
            (directory / model_file_name(name)).unlink()
        _fsync_dir(directory)
    return previous


def restore_model(name: str, directory: Path, previous: bytes | None) -> None:
    """Undo :func:`activate_text` or :func:`withdraw_model`: the bytes served before, or no file."""
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            (directory / model_file_name(name)).unlink()
        _fsync_dir(directory)
        return
    _write_atomically(directory, name, previous, validate=False)
