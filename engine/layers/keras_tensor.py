"""Symbolic tensors for the functional API: a shape, a dtype and the layer call that made it."""


class KerasTensor:
    """A placeholder with a static shape (None for unknown dims) that records its history:
    the layer, which of its calls (node) and which output of that call produced it."""

    def __init__(self, shape, dtype="float32", history=None, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.history = history  # (layer, node_index, tensor_index)
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    # Operators make operation nodes (engine/layers/symbolic_ops.py), as in Keras 3.
    __array_ufunc__ = None  # numpy_array + tensor defers to __radd__

    def _operation(self, name, *operands):
        from engine.layers import symbolic_ops  # (it imports the layers, which import this)

        return symbolic_ops.apply(name, *operands)

    def __add__(self, other):
        return self._operation("Add", self, other)

    def __radd__(self, other):
        return self._operation("Add", other, self)

    def __sub__(self, other):
        return self._operation("Subtract", self, other)

    def __rsub__(self, other):
        return self._operation("Subtract", other, self)

    def __mul__(self, other):
        return self._operation("Multiply", self, other)

    def __rmul__(self, other):
        return self._operation("Multiply", other, self)

    def __truediv__(self, other):
        return self._operation("TrueDivide", self, other)

    def __rtruediv__(self, other):
        return self._operation("TrueDivide", other, self)

    def __floordiv__(self, other):
        return self._operation("FloorDivide", self, other)

    def __rfloordiv__(self, other):
        return self._operation("FloorDivide", other, self)

    def __mod__(self, other):
        return self._operation("Mod", self, other)

    def __rmod__(self, other):
        return self._operation("Mod", other, self)

    def __matmul__(self, other):
        return self._operation("Matmul", self, other)

    def __rmatmul__(self, other):
        return self._operation("Matmul", other, self)

    def __abs__(self):
        return self._operation("Absolute", self)

    def __pow__(self, other):
        return self._operation("Power", self, other)

    def __rpow__(self, other):
        return self._operation("Power", other, self)

    def __neg__(self):
        return self._operation("Negative", self)

    def __getitem__(self, key):
        return self._operation("GetItem", self, key)

    def __iter__(self):
        raise TypeError("A symbolic tensor cannot be iterated (its batch size is unknown)")

    def __repr__(self):
        layer = self.history[0].name if self.history else None
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={layer}>"


class Node:
    """One call of a layer on symbolic inputs: its first argument (`inputs`), its other
    positional and keyword arguments (which may hold symbolic tensors too) and its outputs."""

    def __init__(self, layer, inputs, outputs, call_kwargs, call_args=()):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.call_args = tuple(call_args)
        self.call_kwargs = call_kwargs

    @property
    def input_tensors(self):
        """Every symbolic tensor the call read: the first argument's, then the other
        arguments' (positional, then keyword in name order)."""
        return flatten(self.inputs) + symbolic_leaves([self.call_args, self.call_kwargs])

    @property
    def output_tensors(self):
        return flatten(self.outputs)


def flatten(structure):
    """The tensors of a tensor or a (possibly nested) list/tuple of tensors, in order."""
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in flatten(item)]
    if isinstance(structure, dict):
        return [t for key in sorted(structure) for t in flatten(structure[key])]
    return [structure]


def map_structure(function, structure):
    """Apply `function` to every leaf of a tensor or list/tuple/dict of tensors."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(function, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(function, value) for key, value in structure.items()}
    return function(structure)


def symbolic_leaves(structure):
    """The symbolic tensors among the leaves of a structure that may hold other values."""
    return [t for t in flatten(structure) if isinstance(t, KerasTensor)]


def is_symbolic(structure):
    return any(isinstance(t, KerasTensor) for t in flatten(structure))
