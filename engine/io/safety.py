"""Safe reading and atomic writing of model files: errors that name the file, paths that stay
inside the model's folder, JSON without code, and saves that never clobber a good file."""
import contextlib
import json
import os
import posixpath
import shutil
import tempfile


class ModelFileError(ValueError):
    """A model file is corrupt, truncated or unsafe; the message names the file."""

    def __init__(self, source, problem):
        super().__init__(f"Cannot load '{source}': {problem}")
        self.source = source


def parse_json(data, source):
    """The JSON object in `data` (bytes or str), or ModelFileError naming `source`."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(source, f"malformed JSON ({error})") from None
    if not isinstance(value, dict):
        raise ModelFileError(source, f"expected a JSON object, found {type(value).__name__}")
    return value


def check_relative(path, source):
    """Refuse a manifest path that is absolute, empty or climbs out with '..'."""
    if not isinstance(path, str) or not path or "\\" in path or "\0" in path:
        raise ModelFileError(source, f"invalid weight path {path!r}")
    normal = posixpath.normpath(path)
    if posixpath.isabs(path) or normal == ".." or normal.startswith("../") or ":" in path:
        raise ModelFileError(source, f"weight path {path!r} points outside the model's folder")
    return normal


def resolve_inside(folder, path, source):
    """`folder/path` for a manifest path, refusing anything (symlinks included) outside."""
    full = os.path.realpath(os.path.join(folder, check_relative(path, source)))
    root = os.path.realpath(folder)
    if os.path.commonpath([root, full]) != root:
        raise ModelFileError(source, f"weight path {path!r} points outside the model's folder")
    return full


def read_file(path, source=None, max_bytes=None):
    """The bytes of a file, with a clear error if it is missing or too large."""
    try:
        size = os.path.getsize(path)
        if max_bytes is not None and size > max_bytes:
            raise ModelFileError(source or path, f"{path} is {size} bytes, more than the "
                                                 f"{max_bytes} expected")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ModelFileError(source or path, f"cannot read {path} ({error.strerror})") from None


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path in the same folder; on success rename it over `path`."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_directory(path, owned):
    """Yield a temporary folder beside `path`; on success swap it in for `path`. An existing
    `path` is only replaced if every file in it satisfies `owned(name)` (a previous model)."""
    path = os.path.abspath(path.rstrip("/\\") or path)
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        foreign = [name for name in os.listdir(path) if not owned(name)]
        if foreign:
            raise ValueError(f"Cannot save into '{path}': it holds files that are not part of "
                             f"a saved model ({', '.join(sorted(foreign)[:5])}); choose an "
                             f"empty or new folder")
    elif os.path.exists(path):
        raise ValueError(f"Cannot save into '{path}': it exists and is not a folder")
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                 dir=parent)
    try:
        yield temporary
        if os.path.isdir(path):
            previous = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old",
                                        dir=parent)
            os.rmdir(previous)
            os.rename(path, previous)
            os.rename(temporary, path)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(temporary, path)
    finally:
        if os.path.isdir(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
