"""Weight regularizers (Keras 3 names and formulas): a penalty added to the training loss."""
import engine
from engine import keras_objects


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


get = keras_objects.getter("regularizer", _CLASSES, _ALIASES)
serialize = keras_objects.serialize
