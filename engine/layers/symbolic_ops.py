"""Operators on the symbolic tensors of a functional model (x + y, x * 2, 1 - x, -x, x[:, 0]).

Each application becomes a node of an op layer named as Keras 3 names its operations
(module keras.src.ops.numpy: Add, Subtract, Multiply, TrueDivide, FloorDivide, Mod, Power,
Matmul, Negative, Absolute, GetItem), so a
model written with them builds, trains, and reads and writes Keras's files. A constant before
the tensor (1 - x) is kept in that order: the node records the tensor first with
`reflected=True`, and files list the operands in the written order, as Keras does.
"""
import engine
from engine.layers.base import Layer
from engine.layers.keras_tensor import KerasTensor

KERAS_MODULE = "keras.src.ops.numpy"


class SymbolicOp(Layer):
    """One operation applied in a functional model: `operator(*operands)` on tensors."""

    operator = None

    def __call__(self, first, *others, **kwargs):
        if others and not isinstance(first, (KerasTensor, engine.Tensor)) and isinstance(
                others[0], (KerasTensor, engine.Tensor)):
            return super().__call__(others[0], first, *others[1:], reflected=True, **kwargs)
        return super().__call__(first, *others, **kwargs)

    def call(self, first, *others, reflected=False):
        operands = (first, *others)
        return type(self).operator(*(operands[::-1] if reflected else operands))

    def get_config(self):
        return {"name": self.name}  # Keras writes nothing else for an operation


def _get_item(tensor, key):
    return tensor[tuple(key) if isinstance(key, list) else key]  # (files hold a list)


# Keras's operation class names (keras.ops.divide makes Divide; the / operator TrueDivide).
_OPERATORS = {"Add": engine.add, "Subtract": engine.sub, "Multiply": engine.mul,
              "TrueDivide": engine.div, "Divide": engine.div, "FloorDivide": engine.floor_div,
              "Mod": engine.mod, "Power": engine.pow, "Matmul": engine.matmul,
              "Negative": engine.neg, "Absolute": engine.abs, "GetItem": _get_item}
OPERATIONS = {name: type(name, (SymbolicOp,), {"operator": staticmethod(operator),
                                               "__module__": __name__})
              for name, operator in _OPERATORS.items()}


def apply(name, *operands):
    """The node of operation `name` on `operands` (called from KerasTensor's operators)."""
    return OPERATIONS[name]()(*operands)
