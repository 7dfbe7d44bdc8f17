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
    """One operator applied in a functional model; `operator(first, second)` on tensors."""

    operator = None

    def __call__(self, first, *others, **kwargs):
        if others and not isinstance(first, (KerasTensor, engine.Tensor)) and isinstance(
                others[0], (KerasTensor, engine.Tensor)):
            return super().__call__(others[0], first, *others[1:], reflected=True, **kwargs)
        return super().__call__(first, *others, **kwargs)

    def call(self, first, second=None, reflected=False):
        operator = type(self).operator
        return operator(second, first) if reflected else operator(first, second)

    def get_config(self):
        return {"name": self.name}  # Keras writes nothing else for an operation


class Add(SymbolicOp):
    operator = staticmethod(engine.add)


class Subtract(SymbolicOp):
    operator = staticmethod(engine.sub)


class Multiply(SymbolicOp):
    operator = staticmethod(engine.mul)


class TrueDivide(SymbolicOp):
    operator = staticmethod(engine.div)


class Divide(TrueDivide):
    """keras.ops.divide's node (the / operator makes TrueDivide)."""


class FloorDivide(SymbolicOp):
    operator = staticmethod(engine.floor_div)


class Mod(SymbolicOp):
    operator = staticmethod(engine.mod)


class Matmul(SymbolicOp):
    operator = staticmethod(engine.matmul)


class Power(SymbolicOp):
    operator = staticmethod(engine.pow)


class Negative(SymbolicOp):
    def call(self, first):
        return engine.neg(first)


class Absolute(SymbolicOp):
    def call(self, first):
        return engine.abs(first)


class GetItem(SymbolicOp):
    def call(self, first, key):
        return first[tuple(key) if isinstance(key, list) else key]  # (files hold a list)


OPERATIONS = {cls.__name__: cls for cls in (
    Add, Subtract, Multiply, TrueDivide, Divide, FloorDivide, Mod, Power, Matmul, Negative,
    Absolute, GetItem)}


def apply(name, *operands):
    """The node of operation `name` on `operands` (called from KerasTensor's operators)."""
    return OPERATIONS[name]()(*operands)
