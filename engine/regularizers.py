"""Weight regularizers (Keras 3 names and formulas): a penalty added to the training loss."""
import engine


class Regularizer:
    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = engine.zeros((), x.dtype)
        if self.l1:
            penalty = penalty + self.l1 * engine.sum(engine.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * engine.sum(engine.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras 3's lowercase aliases of the classes


def get(identifier):
    """A regularizer from a name, {"class_name", "config"} dict, instance or callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown regularizer: {identifier.get('class_name')!r}. Known "
                             f"regularizers: {', '.join(sorted(_CLASSES))}")
        return cls.from_config(identifier.get("config") or {})
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown regularizer: {identifier!r}. Known regularizers: "
                             f"{', '.join(sorted(_ALIASES))}")
        return cls()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer: {identifier!r}")


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
