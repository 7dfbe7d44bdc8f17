"""Input and InputLayer: where a functional model's symbolic graph starts."""
from engine.layers.base import Layer
from engine.layers.keras_tensor import KerasTensor, Node


class InputLayer(Layer):
    """Holds the symbolic tensor that stands for a model input of `batch_shape`.

    Accepts Keras 3 (`shape`/`batch_shape`) and Keras 2 (`batch_input_shape`) arguments.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 sparse=False, ragged=False, optional=False, batch_input_shape=None, **kwargs):
        batch_shape = batch_shape or batch_input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument to InputLayer "
                                 "(e.g. shape=(4,)).")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        if sparse or ragged or optional:
            raise ValueError("Sparse, ragged and optional inputs are not supported")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = tuple(batch_shape)
        self.built = True
        self._build_input_shape = self.batch_shape
        output = KerasTensor(self.batch_shape, self.dtype, (self, 0, 0), name=self.name)
        self._inbound_nodes.append(Node(self, [], output, {}))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False,
                "ragged": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic tensor standing for a model input; `shape` excludes the batch dimension."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                       name=name)
    return layer.output
