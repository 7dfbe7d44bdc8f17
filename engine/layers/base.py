"""Layer: the Keras building block (weights, build on first call, config, training flag).

Layers are written with engine ops only, so they run and train on every backend.
"""
import contextlib
import inspect
import re
import warnings

import numpy as np

import engine
from engine import constraints, initializers, regularizers, tracing
from engine.layers.keras_tensor import (KerasTensor, Node, flatten, is_symbolic,
                                        map_structure, symbolic_leaves)

_NAME_COUNTS = {}
_TRAINING_STACK = []
_DEFERRED_UPDATES = []
_STRUCTURE = {"version": 0}  # bumped whenever a layer gains or replaces a sub-layer


def to_snake_case(name):
    """Keras's rule: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """prefix, then prefix_1, prefix_2... (Keras's automatic layer names)."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def structure_changed():
    """Note that some layer gained or replaced a sub-layer (traced steps key on this)."""
    _STRUCTURE["version"] += 1


def structure_version():
    """A number that changes whenever any layer's sub-layers change."""
    return _STRUCTURE["version"]


def clear_session():
    """Restart automatic names (dense, dense_1, ...), as keras.backend.clear_session does."""
    _NAME_COUNTS.clear()


@contextlib.contextmanager
def deferred_state_updates():
    """Collect non-trainable state updates (BatchNormalization's moving statistics) instead of
    applying them, so a training step that fails part-way leaves every weight unchanged."""
    updates = []
    _DEFERRED_UPDATES.append(updates)
    try:
        yield updates
    finally:
        _DEFERRED_UPDATES.pop()


def assign_state(variable, value):
    """variable.assign(value), or queued while inside deferred_state_updates()."""
    if _DEFERRED_UPDATES:
        _DEFERRED_UPDATES[-1].append((variable, value))
    else:
        variable.assign(value)


def in_training():
    """The training flag of the innermost layer call in progress (False outside any)."""
    return bool(_TRAINING_STACK and _TRAINING_STACK[-1])


def next_seed(layer):
    """The seed of a layer's next random draw: None (fresh randomness) if `layer.seed` is None,
    else derived from it and a call counter, so seeded runs repeat but masks change per call."""
    if layer.seed is None:
        return None
    layer._seed_calls = getattr(layer, "_seed_calls", 0) + 1
    seed = (layer.seed * 1_000_003 + layer._seed_calls) % 2 ** 31
    tracing.seed_drawn(seed, lambda: next_seed(layer))
    return seed


def standardize_dtype(dtype):
    """A dtype name from a name, None (float32) or a Keras 3 DTypePolicy config dict."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", dtype.get("name"))
    return engine.dtypes.as_dtype(dtype)


def is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer))
                                                    for d in value)


class InputSpec:
    """What a layer accepts: rank (ndim/min_ndim), fixed sizes of some axes, or a full shape."""

    def __init__(self, ndim=None, min_ndim=None, axes=None, shape=None):
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})

    def check(self, layer_name, index, shape):
        prefix = f"Input {index} of layer '{layer_name}' is incompatible with the layer:"
        shape = tuple(shape)
        if self.ndim is not None and len(shape) != self.ndim:
            raise ValueError(f"{prefix} expected ndim={self.ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {shape}")
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ValueError(f"{prefix} expected min_ndim={self.min_ndim}, found "
                             f"ndim={len(shape)}. Full shape received: {shape}")
        for axis, value in self.axes.items():
            if value is not None and shape[axis] not in (value, None):
                raise ValueError(f"{prefix} expected axis {axis} of input shape to have value "
                                 f"{value}, but received input with shape {shape}")
        if self.shape is not None:
            for want, got in zip(self.shape, shape):
                if want is not None and got is not None and want != got:
                    raise ValueError(f"{prefix} expected shape={self.shape}, found "
                                     f"shape={shape}")


def get_mask(value):
    """The Keras mask attached to a tensor (None when it has none, or is no tensor)."""
    return getattr(value, "_keras_mask", None)


def _has_mask(masks):
    """Whether a mask structure (a mask, None, or a list or dict of them) holds a mask."""
    if isinstance(masks, (list, tuple, dict)):
        return any(m is not None for m in flatten(masks))
    return masks is not None


def _attach_masks(outputs, masks):
    """Give each output tensor that has no mask yet its mask from `masks` (Keras keeps a mask
    a layer set itself)."""
    if masks is None:
        return
    for tensor, mask in zip(flatten(outputs), flatten(masks)):
        if mask is not None and isinstance(tensor, engine.Tensor) and get_mask(tensor) is None:
            tensor._keras_mask = mask


class Layer:
    """Base layer. Subclasses create weights in build(input_shape) and compute in call()."""

    # Layers that pass a mask on unchanged (Dense, Dropout, ...) say so, as in Keras; a layer
    # that does not drops the mask, with a warning.
    supports_masking = False

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None,
                 activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                            f"{kwargs}")
        object.__setattr__(self, "_layers", [])
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = standardize_dtype(dtype)
        self.built = False
        self.input_spec = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._trainable = bool(trainable)
        self._trainable_variables = []
        self._non_trainable_variables = []
        self._regularized = []  # (variable, regularizer)
        self._added_losses = []  # add_loss during the current outermost call
        self._inbound_nodes = []
        self._build_input_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape else None
        self._call_signature = inspect.signature(self.call)
        parameters = self._call_signature.parameters
        self._call_accepts_training = "training" in parameters
        self._call_accepts_mask = "mask" in parameters
        if type(self).compute_mask is not Layer.compute_mask:
            self.supports_masking = True  # Keras: a layer that computes masks passes them on

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])

    def __setattr__(self, name, value):
        """Layers set as attributes, alone or in lists, tuples and dicts (nested too), become
        sub-layers whose weights this layer tracks, as in Keras."""
        children = _layers_within(value)
        if children:
            structure_changed()
            for child in children:
                if child is not self and not any(child is known for known in self._layers):
                    self._layers.append(child)
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ building and calling

    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch dim None)."""
        self.built = True
        self._build_input_shape = input_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        """The output shape for `input_shape`; by default found by running call on zeros."""
        return probe_output_shape(self, input_shape)

    def compute_mask(self, inputs, previous_mask):
        """The mask of the outputs (Keras's rule): by default the input's, unchanged."""
        return previous_mask

    def __call__(self, inputs, *args, training=None, **kwargs):
        if is_symbolic(inputs):
            return self._symbolic_call(inputs, args, kwargs)
        previous_mask = kwargs.get("mask")
        if previous_mask is None:
            previous_mask = map_structure(get_mask, inputs)
            if self._call_accepts_mask and _has_mask(previous_mask):
                kwargs["mask"] = previous_mask
        if args or kwargs:  # the usual call has one argument: nothing more to do
            self._fill_argument_masks(inputs, args, kwargs)
            args, kwargs = map_structure(self._autocast_tensor, (args, kwargs))
        inputs = map_structure(self._autocast, inputs)
        shapes = map_structure(lambda t: t.shape, inputs)
        self._check_input_spec(shapes)
        if not self.built:  # building may tighten the spec (Dense pins its input features)
            self.build_from_shape(_with_unknown_batch(shapes), {
                key: _with_unknown_batch(shape)
                for key, shape in self._argument_shapes(inputs, args, kwargs).items()})
            self._check_input_spec(shapes)
        if training is None:
            training = in_training()
        if self._call_accepts_training:
            kwargs["training"] = bool(training)
        if not _TRAINING_STACK:  # an outermost call: the losses of the last one go
            self._clear_added_losses()
        _TRAINING_STACK.append(bool(training))
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            _TRAINING_STACK.pop()
        if self.activity_regularizer is not None:  # Keras 3: per sample of the batch
            for output in flatten(outputs):
                penalty = self.activity_regularizer(output)
                self.add_loss(penalty / float(output.shape[0]) if output.ndim and
                              output.shape[0] else penalty)
        if self.supports_masking:
            _attach_masks(outputs, self.compute_mask(inputs, previous_mask))
        elif _has_mask(previous_mask):
            warnings.warn(f"Layer '{self.name}' (of type {type(self).__name__}) was passed an "
                          f"input with a mask attached to it, but it does not support masking: "
                          f"layers after it will not see the mask.", stacklevel=2)
        return outputs

    def _autocast(self, value):
        """A tensor of `value`; floating inputs take the layer's dtype, as Keras autocasts."""
        tensor = value if isinstance(value, engine.Tensor) else engine.convert_to_tensor(value)
        if engine.dtypes.is_floating(tensor.dtype) and engine.dtypes.is_floating(self.dtype):
            return engine.cast(tensor, self.dtype)
        return tensor

    def _autocast_tensor(self, value):
        """_autocast for the tensor leaves of a call's other arguments (others pass as given)."""
        return self._autocast(value) if isinstance(value, (engine.Tensor, np.ndarray)) else value

    def _bound_arguments(self, inputs, args, kwargs):
        """{parameter name: argument} of a call, named by the parameters of `call` ({} when
        they do not bind: the call itself will say why)."""
        try:
            return self._call_signature.bind_partial(inputs, *args, **kwargs).arguments
        except TypeError:
            return {}

    def _tensor_arguments(self, bound):
        """The bound arguments that are tensors or structures of tensors (symbolic or not)."""
        parameters = self._call_signature.parameters
        return {name: value for name, value in bound.items()
                if parameters[name].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                 inspect.Parameter.VAR_KEYWORD)
                and flatten(value) and all(isinstance(t, (engine.Tensor, KerasTensor))
                                           for t in flatten(value))}

    def _argument_shapes(self, inputs, args, kwargs):
        """{"<parameter>_shape": shape} of every tensor argument of a call (Keras 3's names for
        the arguments of a build that takes several shapes)."""
        bound = self._bound_arguments(inputs, args, kwargs)
        return {f"{name}_shape": map_structure(lambda t: tuple(t.shape), value)
                for name, value in self._tensor_arguments(bound).items()}

    def _fill_argument_masks(self, inputs, args, kwargs):
        """Keras 3's rule for a call with several tensor arguments: an argument `<name>_mask`
        of `call` left None gets the Keras mask of tensor argument `<name>`."""
        bound = self._bound_arguments(inputs, args, kwargs)
        arguments = self._tensor_arguments(bound)
        if len(arguments) < 2:
            return
        for name, value in arguments.items():
            mask_name = f"{name}_mask"
            mask = map_structure(get_mask, value)
            if (mask_name in self._call_signature.parameters and bound.get(mask_name) is None
                    and any(m is not None for m in flatten(mask))):
                kwargs[mask_name] = mask

    def build_from_shape(self, input_shape, argument_shapes=None):
        """Build once: build(input_shape), or, for a build that takes several shapes (Keras 3's
        build(query_shape, value_shape)), build with the `argument_shapes` it names."""
        if self.built:
            return
        parameters = inspect.signature(self.build).parameters
        if argument_shapes and len(parameters) > 1:
            self.build(**{key: shape for key, shape in argument_shapes.items()
                          if key in parameters})
        else:
            self.build(input_shape)

    def _symbolic_call(self, inputs, args, kwargs):
        shapes = map_structure(lambda t: t.shape, inputs)
        self._check_input_spec(shapes)
        self.build_from_shape(shapes, self._argument_shapes(inputs, args, kwargs))
        self._check_input_spec(shapes)
        if (args or symbolic_leaves(kwargs)
                or type(self).compute_output_shape is Layer.compute_output_shape):
            output_shapes = probe_output_shape(self, shapes, args, kwargs)
        else:
            output_shapes = self.compute_output_shape(shapes)
        node_index = len(self._inbound_nodes)
        if is_shape(output_shapes):
            outputs = KerasTensor(output_shapes, self.output_dtype(inputs), (self, node_index, 0))
        else:
            outputs = [KerasTensor(shape, self.output_dtype(inputs), (self, node_index, i))
                       for i, shape in enumerate(output_shapes)]
        self._inbound_nodes.append(Node(self, inputs, outputs, kwargs, args))
        return outputs

    def output_dtype(self, inputs):
        """The dtype of this layer's outputs (its compute dtype)."""
        return self.dtype

    def _check_input_spec(self, shapes):
        if self.input_spec is None:
            return
        specs = self.input_spec if isinstance(self.input_spec, list) else [self.input_spec]
        shape_list = [shapes] if is_shape(shapes) else list(shapes)
        for index, (spec, shape) in enumerate(zip(specs, shape_list)):
            if spec is not None:
                spec.check(self.name, index, shape)

    # ------------------------------------------------------------------ weights

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True,
                   regularizer=None, constraint=None, name=None):
        """Create a Variable named '<layer>/<name>' on the current backend and track it."""
        initializer = initializers.get(initializer if initializer is not None else
                                       ("glorot_uniform" if engine.dtypes.is_floating(
                                           standardize_dtype(dtype or self.dtype)) else "zeros"))
        dtype = standardize_dtype(dtype or self.dtype)
        shape = tuple(int(d) for d in (shape or ()))
        value = initializer(shape, dtype)
        variable = engine.Variable(value, trainable=trainable and self.trainable,
                                   name=f"{self.name}/{name or 'variable'}", dtype=dtype,
                                   constraint=constraints.get(constraint))
        (self._trainable_variables if trainable else self._non_trainable_variables).append(variable)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((variable, regularizer))
        return variable

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for variable in self._trainable_variables:
            variable.trainable = self._trainable
        for layer in self._layers:
            layer.trainable = value

    @property
    def layers(self):
        return list(self._layers)

    @property
    def weights(self):
        """Own trainable then non-trainable weights, then those of sub-layers (no repeats)."""
        seen, result = set(), []
        for variable in self._trainable_variables + self._non_trainable_variables + [
                w for layer in self._layers for w in layer.weights]:
            if id(variable) not in seen:
                seen.add(id(variable))
                result.append(variable)
        return result

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def losses(self):
        """Regularization penalties of the weights, and the losses added (add_loss, activity
        regularizers) during the last outermost call, this layer's and its sublayers'."""
        own = [regularizer(variable) for variable, regularizer in self._regularized]
        return own + list(self._added_losses) + [
            loss for layer in self._layers for loss in layer.losses]

    def add_loss(self, loss):
        """Add a loss from inside call (Keras's add_loss): summed to a scalar, it joins
        self.losses, and so the training loss, until the next outermost call."""
        loss = engine.convert_to_tensor(loss)
        self._added_losses.append(engine.sum(loss) if loss.ndim else loss)

    def _clear_added_losses(self):
        self._added_losses = []
        for layer in self._layers:
            layer._clear_added_losses()

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Replace every weight from a list of arrays; all are checked before any is changed."""
        targets = self.weights
        if len(weights) != len(targets):
            raise ValueError(f"You called `set_weights(weights)` on layer '{self.name}' with a "
                             f"weight list of length {len(weights)}, but the layer was "
                             f"expecting {len(targets)} weights.")
        arrays = [np.asarray(w) for w in weights]
        for variable, array in zip(targets, arrays):
            if tuple(array.shape) != variable.shape:
                raise ValueError(f"Layer '{self.name}' weight shape {variable.shape} is not "
                                 f"compatible with provided weight shape {tuple(array.shape)}.")
        for variable, array in zip(targets, arrays):
            variable.assign(engine.tensor(array, dtype=variable.dtype, backend=variable.backend))

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the "
                             "layer isn't built. You can build it manually via: "
                             "`layer.build(input_shape)`.")
        return int(sum(w.size for w in self.weights))

    # ------------------------------------------------------------------ config

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------------------ functional helpers

    @property
    def input(self):
        return self._node(0).inputs

    @property
    def output(self):
        return self._node(0).outputs

    def _node(self, index):
        if not self._inbound_nodes:
            raise ValueError(f"Layer '{self.name}' has never been called and thus has no "
                             "defined input or output.")
        return self._inbound_nodes[index]

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _marks_built(build):
    """Wrap a subclass's build so that calling it directly also marks the layer built."""
    def wrapped(self, *shapes, **named_shapes):
        result = build(self, *shapes, **named_shapes)
        self.built = True
        self._build_input_shape = (shapes or tuple(named_shapes.values()) or (None,))[0]
        return result

    wrapped.__doc__, wrapped.__name__, wrapped.__wrapped__ = build.__doc__, build.__name__, build
    return wrapped




def _with_unknown_batch(shapes):
    if is_shape(shapes):
        return (None,) + tuple(shapes[1:])
    return [_with_unknown_batch(shape) for shape in shapes]


def probe_output_shape(layer, input_shape, args=(), kwargs=None):
    """Run `layer.call` on zeros twice, unknown dims set to 2 then 3; output dims that change
    with them are unknown (None). Symbolic tensors among `args` and `kwargs` (the call's other
    arguments) become zeros too; their other values pass as given."""
    def zeros(shape, size, dtype="float32"):
        return engine.zeros(tuple(size if d is None else d for d in shape), dtype=dtype)

    def run(size):
        inputs = (zeros(input_shape, size) if is_shape(input_shape)
                  else [zeros(shape, size) for shape in input_shape])
        other_args, other_kwargs = map_structure(
            lambda v: zeros(v.shape, size, v.dtype) if isinstance(v, KerasTensor) else v,
            (tuple(args), dict(kwargs or {})))
        if layer._call_accepts_training:
            other_kwargs["training"] = False
        outputs = layer.call(inputs, *other_args, **other_kwargs)
        return [o.shape for o in flatten(outputs)], isinstance(outputs, (list, tuple))

    (first, is_list), (second, _) = run(2), run(3)
    layer._clear_added_losses()  # the probes' add_loss values are no model's losses
    shapes = [tuple(a if a == b else None for a, b in zip(s1, s2))
              for s1, s2 in zip(first, second)]
    return shapes if is_list else shapes[0]


def _layers_within(value):
    """The layers in `value`: itself, or those held by a list, tuple or dict, at any depth."""
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [layer for item in value for layer in _layers_within(item)]
    return []
