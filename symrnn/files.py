"""Writing output files: each path checked before the work, each file written atomically.

Every file symrnn writes goes through :func:`write_atomic`: the bytes go to a
temporary file in the destination's own directory, which then replaces the
destination with ``os.replace``. An interrupted or failed command therefore
leaves the old file or the new one, never a truncated one, and no temporary
file. :func:`check_output_path` refuses a path that cannot be written (its
directory is missing, it is a directory, it lies under a regular file, its
directory is read-only) with an :class:`OutputPathError` naming the path and
the reason, so a command can refuse a bad path before any expensive work.

Each generated file's header says how to regenerate it: ``symrnn build`` for
the files of ``generated/``, the normalized command line for a file a user
wrote with another command (:func:`command_line`).

Imports: errors only.
"""

import os
import shlex
import tempfile
from pathlib import Path

from .errors import SymrnnError

BUILD_COMMAND = "symrnn build"
STDOUT = "-"


class OutputPathError(SymrnnError):
    """An output path cannot be written; the message is one line naming it and why."""


def _existing_ancestor(directory):
    """The nearest ancestor of ``directory`` (itself included) that exists."""
    for ancestor in (directory, *directory.parents):
        if ancestor.exists() or ancestor.is_symlink():
            return ancestor
    return Path(".")


def _unwritable(directory):
    """Why no file can be made in the existing ``directory``, or None: a
    temporary file is made and removed, which also catches read-only file
    systems and places such as /proc where permissions say nothing (as root)."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return "permission denied"
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".symrnn-probe.", suffix=".tmp")
    except OSError as error:
        return f"no file can be made there ({_one_line(error)})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_output_path(path):
    """``path`` as a :class:`~pathlib.Path` if a file can be written there, else
    raise :class:`OutputPathError` saying why."""
    text, path = str(path), Path(path)
    if text.endswith(("/", os.sep)) or path.name in ("", ".", "..") or path.is_dir():
        raise OutputPathError(f"cannot write {text}: it is a directory; give the path of a file")
    directory = path.parent
    if not directory.is_dir():
        ancestor = _existing_ancestor(directory)
        if not ancestor.is_dir():
            raise OutputPathError(f"cannot write {path}: {ancestor} is a file, not a directory")
        raise OutputPathError(f"cannot write {path}: directory {directory} does not exist")
    reason = _unwritable(directory)
    if reason is not None:
        raise OutputPathError(f"cannot write {path}: directory {directory}: {reason}")
    return path


def check_output_dir(directory):
    """``directory`` as a Path if it is a directory where files can be made,
    or can be made one, else raise :class:`OutputPathError`."""
    directory = Path(directory)
    ancestor = _existing_ancestor(directory)
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot write into {directory}: {ancestor} is a file, not a directory")
    reason = _unwritable(ancestor)
    if reason is not None:
        raise OutputPathError(f"cannot write into {directory}: {ancestor}: {reason}")
    return directory


def make_dir(directory):
    """Make ``directory`` and its missing parents; :class:`OutputPathError` if that fails."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"cannot make directory {directory}: {_one_line(error)}") from None


def _mode_for(path):
    """The permission bits of the file at ``path`` if there is one, else those of a new file."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _one_line(error):
    return (error.strerror or str(error)).splitlines()[0] if isinstance(error, OSError) else str(error)


def write_atomic(path, data, parents=False):
    """Write ``data`` (text, as UTF-8, or bytes) to ``path`` atomically; returns the path.
    ``parents``: make its missing directories first (a cache's folder).

    Raises :class:`OutputPathError` if the path cannot be written.
    """
    if parents:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputPathError(f"cannot write {path}: {_one_line(error)}") from None
    path = check_output_path(path)
    data = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputPathError(f"cannot write {path}: {_one_line(error)}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise OutputPathError(f"cannot write {path}: {_one_line(error)}") from None
        raise
    return path


def command_line(words):
    """A normalized command line (``symrnn generate lstm --layers 2 -o lstm.py``)
    from its words, quoted for a POSIX shell."""
    return " ".join(shlex.quote(str(word)) for word in words)


# A file written through the Python API has no command line: how to regenerate it instead.
PYTHON_API_NOTE = "regenerate it with the symrnn call that wrote it (symrnn.generate or symrnn.write_module)."


def do_not_edit(command, source="from the cell's equations"):
    """The first line of every generated file, which each format puts in its
    own comment: what made the file, and ``command`` as the way to regenerate
    it (None: a file written through the Python API).

    >>> do_not_edit("symrnn build")
    "Generated by symrnn from the cell's equations. Do not edit by hand: run `symrnn build`."
    """
    how = f"run `{command}`." if command else PYTHON_API_NOTE
    return f"Generated by symrnn {source}. Do not edit by hand: {how}"
