"""Keras's small configurable objects (initializers, regularizers, constraints): one way to
get one from what a user or a file gives, and to write one back as Keras does."""


def getter(kind, classes, aliases):
    """get(identifier) for objects of one `kind`: None, a name (Keras's snake_case alias or
    the class name), a {"class_name", "config"} dict, a class, an instance or a callable."""
    def lookup(name):
        cls = aliases.get(name) or classes.get(name)
        if cls is None:
            raise ValueError(f"Unknown {kind}: {name!r}. Known {kind}s: "
                             f"{', '.join(sorted(set(aliases) | set(classes)))}")
        return cls

    def get(identifier):
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            return lookup(identifier.get("class_name")).from_config(
                identifier.get("config") or {})
        if isinstance(identifier, str):
            return lookup(identifier)()
        if isinstance(identifier, type):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {kind}: {identifier!r}")

    return get


def serialize(obj):
    """{"class_name", "config"} of an object (None for None)."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}
