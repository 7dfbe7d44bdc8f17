"""Merge layers: combine a list of tensors elementwise (Add, Subtract, Multiply, Average,
Maximum, Minimum), along an axis (Concatenate) or by per-sample dot products (Dot)."""
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

    supports_masking = True

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

    def compute_mask(self, inputs, previous_mask):
        """Keras's rule: the OR of the inputs' masks; none if an input has none."""
        masks = list(previous_mask or [])
        if not masks or any(m is None for m in masks):
            return None
        return functools.reduce(engine.logical_or, masks)

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

    supports_masking = True

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

    def compute_mask(self, inputs, previous_mask):
        """Keras's rule: the inputs' masks (all true for an unmasked input, spread over the
        features for a mask of lower rank) joined along `axis`, then any over the last axis."""
        masks = list(previous_mask or [])
        if all(m is None for m in masks):
            return None
        full = [engine.ones(x.shape, "bool") if m is None else
                m if m.ndim == x.ndim else engine.broadcast_to(engine.expand_dims(m, -1), x.shape)
                for x, m in zip(inputs, masks)]
        return engine.any(engine.concat(full, self.axis), axis=-1)

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


class Dot(Layer):
    """The per-sample dot product of two inputs of rank 2 or 3 along `axes` (one axis for
    both, or one each), as Keras's batch_dot: (N, d) . (N, d) -> (N, 1); (N, a, d) . (N, b, d)
    along the last axes -> (N, a, b). With `normalize`, the cosine similarity."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = axes if isinstance(axes, int) else list(axes)
        self.normalize = normalize

    def compute_mask(self, inputs, previous_mask):
        return None  # Keras's Dot drops masks

    def _axes(self, shapes):
        axes = [self.axes] * 2 if isinstance(self.axes, int) else list(self.axes)
        return [axis % len(shape) for axis, shape in zip(axes, shapes)]

    def build(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2
                or not isinstance(input_shape[0], (list, tuple))):
            raise ValueError(f"Layer '{self.name}': a `Dot` layer takes a list of 2 inputs, "
                             f"got input shape {input_shape}")
        ranks = {len(shape) for shape in input_shape}
        if ranks - {2, 3} or len(ranks) != 1:
            raise ValueError(f"Layer '{self.name}': Dot takes two inputs of rank 2 or both of "
                             f"rank 3, got shapes {input_shape}")
        first, second = (shape[axis] for shape, axis in zip(input_shape,
                                                          self._axes(input_shape)))
        if None not in (first, second) and first != second:
            raise ValueError(f"Layer '{self.name}': dimension incompatibility {first} != "
                             f"{second} along axes {self.axes} of shapes {input_shape}")

    def call(self, inputs):
        left, right = inputs
        axes = self._axes([left.shape, right.shape])
        if self.normalize:
            left, right = (value / engine.sqrt(engine.maximum(
                engine.sum(value * value, axis, keepdims=True), 1e-12))
                for value, axis in zip((left, right), axes))
        if left.ndim == 2:
            return engine.sum(left * right, 1, keepdims=True)
        left = left if axes[0] == 2 else engine.transpose(left, (0, 2, 1))
        right = right if axes[1] == 1 else engine.transpose(right, (0, 2, 1))
        return engine.matmul(left, right)

    def compute_output_shape(self, input_shape):
        left, right = input_shape
        if len(left) == 2:
            return (left[0], 1)
        axes = self._axes(input_shape)
        return ((left[0],) + tuple(d for i, d in enumerate(left) if i not in (0, axes[0]))
                + tuple(d for i, d in enumerate(right) if i not in (0, axes[1])))

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
