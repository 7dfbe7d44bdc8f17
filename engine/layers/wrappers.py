"""Wrapper layers: TimeDistributed (one layer applied to every time step, time folded into the
batch) and Bidirectional (a recurrent layer run forwards and backwards, outputs merged)."""
import engine
from engine.layers.base import InputSpec, Layer
from engine.layers.recurrent import RNN
from engine.layers.rnn_cells import fresh_cell

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def keras3_entry(layer):
    """A nested layer's config as Keras 3 serializes it (serialize_keras_object)."""
    entry = {"module": "keras.layers", "class_name": type(layer).__name__,
             "config": layer.get_config(), "registered_name": None}
    if layer.built and layer._build_input_shape is not None:
        entry["build_config"] = {"input_shape": list(layer._build_input_shape)}
    return entry


def _as_layer(value):
    """A layer from a layer or its {"class_name", "config"} entry (Keras 2 or 3 form)."""
    from engine.layers import deserialize

    return value if isinstance(value, Layer) else deserialize(value)


def _describe(cls, name):
    return f"{cls.__name__} layer '{name}'" if name else cls.__name__


def _remove_prefix(text, prefix):
    return text[len(prefix):] if text.startswith(prefix) else text


class TimeDistributed(Layer):
    """Apply `layer` to every time slice of (batch, time, ...) inputs, with the same weights:
    time is folded into the batch, (batch * time, ...), and unfolded from the output. An
    input's (batch, time) mask goes on with the output, as in Keras."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"{_describe(TimeDistributed, kwargs.get('name'))}: `layer` must "
                             f"be a layer instance, got {type(layer).__name__}: {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.input_spec = InputSpec(min_ndim=3)

    def build(self, input_shape):
        self.layer.build_from_shape(self._step_shape(input_shape))

    @staticmethod
    def _step_shape(input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def compute_output_shape(self, input_shape):
        step = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (step[0], input_shape[1]) + tuple(step[1:])

    def call(self, inputs, training=False):
        batch, steps = inputs.shape[:2]
        folded = engine.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        outputs = self.layer(folded, training=training)
        return engine.reshape(outputs, (batch, steps) + tuple(outputs.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "layer": keras3_entry(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(_as_layer(config.pop("layer")), **config)


class Bidirectional(Layer):
    """Run a recurrent layer forwards (`forward_<name>`) and a copy of it backwards
    (`backward_<name>`, go_backwards flipped, or `backward_layer`) and merge the two outputs:
    concatenated, summed, multiplied, averaged, or (merge_mode=None) returned as a list. With
    return_sequences the backward outputs are put back in time order first, and masked steps
    output zeros in both directions (zero_output_for_mask, as Keras sets it)."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        what = _describe(Bidirectional, kwargs.get("name"))
        _check_recurrent(what, "layer", layer)
        if backward_layer is not None:
            _check_recurrent(what, "backward_layer", backward_layer)
            _check_pair(what, layer, backward_layer)
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"{what}: merge_mode must be one of 'concat', 'sum', 'mul', "
                             f"'ave' or None, got {merge_mode!r}")
        if layer._batch_input_shape and not {"input_shape", "batch_input_shape"} & set(kwargs):
            kwargs["batch_input_shape"] = layer._batch_input_shape  # Keras 2's idiom
        super().__init__(**kwargs)
        self.forward_layer = _copy(layer, "forward_")
        if backward_layer is None:
            backward_layer = _copy(layer, "backward_", go_backwards=not layer.go_backwards)
        self.backward_layer = backward_layer
        for direction in (self.forward_layer, self.backward_layer):  # Keras forces this
            direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self._initial_weights = list(weights) if weights is not None else None
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        shapes = self.forward_layer.compute_output_shape(input_shape)
        output, states = (shapes[0], list(shapes[1:])) if self.return_state else (shapes, [])
        if self.merge_mode == "concat":
            output = tuple(output[:-1]) + (None if output[-1] is None else 2 * output[-1],)
        outputs = [output, output] if self.merge_mode is None else [output]
        if not states and len(outputs) == 1:
            return outputs[0]
        return outputs + states + states

    def call(self, inputs, training=False, mask=None):
        kwargs = {"training": training} if mask is None else {"training": training, "mask": mask}
        forward = self.forward_layer(inputs, **kwargs)
        backward = self.backward_layer(inputs, **kwargs)
        states = []
        if self.return_state:
            states = list(forward[1:]) + list(backward[1:])
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            backward = engine.reverse(backward, axis=1)
        if self.merge_mode is None:
            outputs = [forward, backward]
        else:
            outputs = [_merge(self.merge_mode, forward, backward)]
        if not states and len(outputs) == 1:
            return outputs[0]
        return outputs + states

    def compute_mask(self, inputs, previous_mask):
        """Keras's rule: a sequence output keeps the input's mask; a last output or a state has
        none."""
        mask = previous_mask if self.return_sequences else None
        masks = [mask, mask] if self.merge_mode is None else [mask]
        if self.return_state:
            masks += [None] * 2 * len(self.forward_layer.initial_states(1, "float32"))
        return masks if len(masks) > 1 else masks[0]

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": keras3_entry(self.forward_layer),
                "backward_layer": keras3_entry(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        backward = config.pop("backward_layer", None)
        return cls(_as_layer(config.pop("layer")),
                   backward_layer=None if backward is None else _as_layer(backward), **config)


def _merge(mode, forward, backward):
    if mode == "concat":
        return engine.concat([forward, backward], axis=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    return (forward + backward) * 0.5


def _check_recurrent(what, argument, layer):
    if not isinstance(layer, RNN):
        found = (f"{type(layer).__name__} layer '{layer.name}'" if isinstance(layer, Layer)
                 else f"{type(layer).__name__} {layer!r}")
        raise ValueError(f"{what}: `{argument}` must be a recurrent layer (SimpleRNN, LSTM or "
                         f"GRU), got {found}")


def _check_pair(what, layer, backward_layer):
    """Keras's rule: opposite go_backwards, the same return_sequences and return_state."""
    if layer.go_backwards == backward_layer.go_backwards:
        raise ValueError(f"{what}: `layer` and `backward_layer` must have different "
                         f"go_backwards values, both have {layer.go_backwards}")
    for attribute in ("return_sequences", "return_state"):
        ours, theirs = getattr(layer, attribute), getattr(backward_layer, attribute)
        if ours != theirs:
            raise ValueError(f"{what}: `layer` and `backward_layer` must have the same "
                             f"{attribute}, got {ours} and {theirs}")


def _copy(layer, prefix, **changes):
    """A fresh layer of `layer`'s config, named `prefix` + its name (not twice, as in Keras 3),
    with `changes`."""
    config = layer.get_config()
    config.pop("batch_input_shape", None)
    config.update(changes, name=prefix + _remove_prefix(layer.name, prefix))
    if isinstance(config.get("cell"), dict):  # RNN(cell): a user's cell class is kept
        config["cell"] = fresh_cell(layer.cell)
    return type(layer).from_config(config)
