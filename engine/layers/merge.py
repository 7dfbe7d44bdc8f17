"""Merge layers: combine a list of tensors elementwise (Add, Subtract, Multiply, Average,
Maximum, Minimum) or along an axis (Concatenate)."""
import functools

import engine
from engine.layers.base import Layer


def _broadcast_shape(shapes):
    """NumPy broadcasting of static shapes (None for unknown dims)."""
    rank = max(len(s) for s in shapes)
    result = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in dims if d not in (1, None)}
        if len(known) > 1:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {shapes}")
        result.append(known.pop() if known else (None if None in dims else 1))
    return tuple(result)


class Merge(Layer):
    """Combines two or more inputs of broadcast-compatible shapes with `combine`."""

    def _check_count(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
                input_shape[0], (list, tuple)) or len(input_shape) < 2:
            raise ValueError(f"A merge layer should be called on a list of at least 2 inputs. "
                             f"Got input shape {input_shape}")

    def build(self, input_shape):
        self._check_count(input_shape)
        _broadcast_shape(input_shape)

    def call(self, inputs):
        return functools.reduce(self.combine, inputs)

    def compute_output_shape(self, input_shape):
        return _broadcast_shape(input_shape)


class Add(Merge):
    combine = staticmethod(engine.add)


class Multiply(Merge):
    combine = staticmethod(engine.mul)


class Maximum(Merge):
    combine = staticmethod(engine.maximum)


class Minimum(Merge):
    combine = staticmethod(engine.minimum)


class Subtract(Merge):
    """inputs[0] - inputs[1]; exactly two inputs."""

    combine = staticmethod(engine.sub)

    def build(self, input_shape):
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: {len(input_shape)} inputs")


class Average(Merge):
    def call(self, inputs):
        return functools.reduce(engine.add, inputs) / float(len(inputs))


class Concatenate(Layer):
    """Join inputs along `axis`; all other dimensions must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 1 or not isinstance(
                input_shape[0], (list, tuple)):
            raise ValueError(f"A `Concatenate` layer should be called on a list of inputs. "
                             f"Received: input_shape={input_shape}")
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return engine.concat(list(inputs), self.axis)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape[0])
        axis = self.axis % rank
        for shape in input_shape:
            others = [d for i, d in enumerate(shape) if i != axis]
            first = [d for i, d in enumerate(input_shape[0]) if i != axis]
            if len(shape) != rank or any(a not in (b, None) and b is not None
                                         for a, b in zip(others, first)):
                raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes "
                                 f"except for the concatenation axis. Received: "
                                 f"input_shape={input_shape}")
        sizes = [shape[axis] for shape in input_shape]
        joined = None if None in sizes else sum(sizes)
        return tuple(input_shape[0][:axis]) + (joined,) + tuple(input_shape[0][axis + 1:])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
