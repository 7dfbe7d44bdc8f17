"""Sequential: a plain stack of layers, each taking the previous one's output."""
from engine.layers.base import Layer, structure_changed, unique_name
from engine.layers.input_layer import InputLayer
from engine.layers.keras_tensor import KerasTensor
from engine.models.functional import Model
from engine.models.training import Trainer


class Sequential(Model):
    """Layers called one after another. The input shape comes from an Input/InputLayer, a
    first layer's `input_shape`, `build(input_shape)`, or the first call's data."""

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        Trainer.__init__(self)
        self._set_input_layer(None)
        self.outputs = None
        for layer in layers or []:
            self.add(layer)

    def _set_input_layer(self, layer):
        """Kept apart from `_layers`: model.layers excludes the InputLayer, as in Keras."""
        object.__setattr__(self, "_input_layer", layer)

    @property
    def input_names(self):
        return [self._input_layer.name] if self._input_layer else []

    @property
    def output_names(self):
        return [self._layers[-1].name] if self._layers else []

    @property
    def inputs(self):
        return [self._input_layer.output] if self._input_layer else None

    def add(self, layer):
        """Append a layer (or set the input with an Input tensor / InputLayer)."""
        if isinstance(layer, KerasTensor):
            layer = layer.history[0]
        if not isinstance(layer, Layer):
            raise ValueError(f"Only instances of Layer can be added to a Sequential model. "
                             f"Received: {layer!r} (of type {type(layer).__name__})")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layers:
                raise ValueError("An InputLayer can only be added first to a Sequential model "
                                 "(it already has an input or layers).")
            self._set_input_layer(layer)
            return
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"All layers added to a Sequential model should have unique "
                             f"names. Name '{layer.name}' is already the name of a layer in "
                             f"this model. Update the `name` argument to pass a unique name.")
        if self._input_layer is None and not self._layers and layer._batch_input_shape:
            self._set_input_layer(InputLayer(batch_shape=layer._batch_input_shape))
        self._layers.append(layer)
        try:
            self._build_graph()
        except Exception:
            self._layers.pop()
            self._build_graph()
            raise

    def pop(self):
        """Remove the last layer and return it."""
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        self._build_graph()
        return layer

    def build(self, input_shape=None):
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument to build a "
                                 "Sequential model without an Input.")
            self._set_input_layer(InputLayer(batch_shape=(None,) + tuple(input_shape[1:])))
        self._build_graph()

    def _build_graph(self):
        """Run the stack on the symbolic input: builds every layer and records output shapes
        (a new stack: its traced steps are made anew)."""
        structure_changed()
        self.outputs = None
        self.built = False
        if self._input_layer is None:
            return
        tensor = self._input_layer.output
        self._output_tensors = []
        for layer in self._layers:
            tensor = layer(tensor)
            self._output_tensors.append(tensor)
        self.outputs = [tensor] if self._layers else None
        self.input_spec = [_input_spec(self._input_layer)]
        self.built = bool(self._layers)
        self._build_input_shape = self._input_layer.batch_shape

    def call(self, inputs, training=False):
        outputs = inputs
        for layer in self._layers:
            outputs = layer(outputs, training=training)
        return outputs

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.outputs[0].shape

    @property
    def layer_output_shapes(self):
        """The symbolic output shape of each layer, in order (for summary)."""
        return [t.shape if isinstance(t, KerasTensor) else [o.shape for o in t]
                for t in self._output_tensors] if self.built else None

    def get_config(self):
        layers = ([self._input_layer] if self._input_layer else []) + self._layers
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                "layers": [serialize_layer(layer) for layer in layers]}

    @classmethod
    def from_config(cls, config):
        from engine.layers import deserialize

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(deserialize(entry))
        return model


def _input_spec(input_layer):
    from engine.layers.base import InputSpec

    return InputSpec(shape=input_layer.batch_shape)


def serialize_layer(layer):
    from engine.layers import serialize

    return serialize(layer)
