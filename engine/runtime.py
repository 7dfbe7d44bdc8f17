"""Backend registration and selection: which backend new tensors are created on.

Backends register a factory with a name, aliases and a priority. The default backend is read
from ENGINE_BACKEND at first use (not at import); unset means numpy. A requested backend that
cannot start raises BackendUnavailable with the reason and the fix: there is no silent fallback.
"""
import importlib
import os
import pkgutil
from dataclasses import dataclass, field

DEFAULT_BACKEND = "numpy"


class BackendUnavailable(RuntimeError):
    """A backend that was asked for cannot start; the message says why and how to fix it."""


@dataclass
class _Entry:
    name: str
    factory: object
    priority: int
    aliases: tuple = ()
    instance: object = None
    failure: str = None
    extra: dict = field(default_factory=dict)


_ENTRIES = {}
_ALIASES = {}
_state = {"current": None, "discovered": False}


def register_backend(name, factory, priority=1, aliases=()):
    """Register a backend; `factory()` builds it or raises BackendUnavailable(reason)."""
    _ENTRIES[name] = _Entry(name, factory, priority, tuple(aliases))
    _ALIASES[name] = name
    for alias in aliases:
        _ALIASES[alias] = name


def _discover():
    """Import every module of engine.backends: each registers itself (discovered, not listed)."""
    if _state["discovered"]:
        return
    _state["discovered"] = True
    import engine.backends as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")


def canonical_name(name):
    _discover()
    key = str(name).strip().lower()
    if key not in _ALIASES:
        known = ", ".join(f"{e.name} ({', '.join(e.aliases)})" if e.aliases else e.name
                          for e in sorted(_ENTRIES.values(), key=lambda e: e.name))
        raise ValueError(f"Unknown backend '{name}'. Known backends: {known}")
    return _ALIASES[key]


def backend(name):
    """The started backend called `name` (or an alias); raises BackendUnavailable if it can't start."""
    entry = _ENTRIES[canonical_name(name)]
    if entry.instance is None:
        if entry.failure is None:
            try:
                entry.instance = entry.factory()
            except BackendUnavailable as error:
                entry.failure = str(error)
        if entry.instance is None:
            raise BackendUnavailable(f"Backend '{entry.name}' is not available: {entry.failure}")
    return entry.instance


def set_backend(name):
    """Make `name` the backend that new tensors are created on."""
    _state["current"] = backend(name)
    return _state["current"].name


def current():
    """The backend new tensors go to: ENGINE_BACKEND at first use, else numpy."""
    chosen = _state["current"]
    if chosen is None:
        requested = os.environ.get("ENGINE_BACKEND", "").strip() or DEFAULT_BACKEND
        chosen = _state["current"] = backend(requested)
    return chosen


def get_backend():
    """Name of the current backend."""
    return current().name


def list_backends():
    """Every registered backend: name, aliases, priority, available, and device or reason."""
    _discover()
    rows = []
    for entry in sorted(_ENTRIES.values(), key=lambda e: (-e.priority, e.name)):
        try:
            started = backend(entry.name)
            rows.append({"name": entry.name, "aliases": entry.aliases, "priority": entry.priority,
                         "available": True, "device": started.describe(), "reason": None})
        except BackendUnavailable:
            rows.append({"name": entry.name, "aliases": entry.aliases, "priority": entry.priority,
                         "available": False, "device": None, "reason": entry.failure})
    return rows


def available_backends():
    return [row["name"] for row in list_backends() if row["available"]]


def started_backends():
    return [e.instance for e in _ENTRIES.values() if e.instance is not None]
