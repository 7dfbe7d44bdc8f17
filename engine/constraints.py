"""Weight constraints (Keras 3 names and formulas): a projection the optimizer applies to a
weight after each update (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)."""
import engine
from engine import keras_objects

EPSILON = 1e-7  # Keras's backend epsilon, added to the norms


class Constraint:
    """A projection w -> constrained w; subclasses override __call__ (the base changes
    nothing)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return engine.sqrt(engine.sum(engine.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Each slice along `axis` rescaled to an L2 norm of at most max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (engine.clip(norms, 0.0, float(self.max_value)) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved `rate` of the way into [min_value, max_value]."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = (self.rate * engine.clip(norms, float(self.min_value), float(self.max_value))
                   + (1 - self.rate) * norms)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to zero."""

    def __call__(self, w):
        return engine.maximum(w, 0.0)


class UnitNorm(Constraint):
    """Each slice along `axis` scaled to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_CLASSES = {cls.__name__: cls for cls in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_ALIASES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm}


get = keras_objects.getter("constraint", _CLASSES, _ALIASES)
serialize = keras_objects.serialize
