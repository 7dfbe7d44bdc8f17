"""Recurrent cells, one time step each, as in Keras 3: SimpleRNNCell, LSTMCell (gates i, f, c,
o), GRUCell (gates z, r, h; reset_after=True by default) and StackedRNNCells. A cell's
call(inputs, states) returns (output, new_states); the RNN layer runs it over time. The
built-in cells also offer the loop a faster split of that step: `project` (x @ kernel + bias,
for all time steps in one matmul) and `step` (the recurrent part)."""
import engine
from engine import activations, constraints, initializers, regularizers
from engine.layers.base import Layer, next_seed
from engine.layers.core import weight_constraints


class GatedCell(Layer):
    """Shared arguments, weights (kernel (features, gates * units), recurrent_kernel (units,
    gates * units), bias) and config of the built-in cells; subclasses define `gates` and
    `step`."""

    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        weight_constraints(self, kernel_constraint=kernel_constraint,
                           recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': units must be a positive "
                             f"integer, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed = seed

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def bias_shape(self):
        return (self.gates * self.units,)

    def initial_bias(self, shape, dtype="float32"):
        return self.bias_initializer(shape, dtype)

    def build(self, input_shape):
        features = input_shape[-1]
        width = self.gates * self.units
        self.kernel = self.add_weight((features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(self.bias_shape(), self.initial_bias,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None

    def get_initial_state(self, batch_size, dtype="float32"):
        return [engine.zeros((batch_size, self.units), dtype)]

    def input_bias(self):
        """The bias added to x @ kernel (all of it, except GRU's recurrent half)."""
        return self.bias

    def project(self, inputs):
        """x @ kernel + input bias for (batch, features) or (batch, steps, features) inputs."""
        shape = tuple(inputs.shape)
        rows = 1
        for size in shape[:-1]:
            rows *= size
        projected = engine.matmul(engine.reshape(inputs, (rows, shape[-1])), self.kernel)
        if self.use_bias and self.input_bias() is not None:
            projected = projected + self.input_bias()
        return engine.reshape(projected, shape[:-1] + (self.gates * self.units,))

    def input_dropout_mask(self, inputs, training):
        """A dropout mask over the features, one per sample (the same at every step)."""
        if not (training and self.dropout):
            return None
        shape = (inputs.shape[0],) + (1,) * (len(inputs.shape) - 2) + (inputs.shape[-1],)
        return engine.dropout(engine.ones(shape, inputs.dtype), self.dropout,
                              seed=next_seed(self))

    def recurrent_dropout_mask(self, batch, dtype, training):
        if not (training and self.recurrent_dropout):
            return None
        return engine.dropout(engine.ones((batch, self.units), dtype), self.recurrent_dropout,
                              seed=next_seed(self))

    def reset_dropout_mask(self):
        """Draw new dropout masks at the next training call. As in Keras, a cell keeps its
        masks from call to call (one mask for all the steps of a sequence); RNN resets them for
        each sequence."""
        self._dropout_masks = {}

    def _kept_mask(self, kind, draw):
        masks = self.__dict__.setdefault("_dropout_masks", {})
        if kind not in masks:
            masks[kind] = draw()
        return masks[kind]

    def call(self, inputs, states, training=False):
        """One step: (output, new states) for (batch, features) inputs and the states list."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        h = states[0]
        if training and self.dropout:
            inputs = inputs * self._kept_mask("input", lambda: self.input_dropout_mask(
                inputs, training))
        if training and self.recurrent_dropout:
            h = h * self._kept_mask("recurrent", lambda: self.recurrent_dropout_mask(
                inputs.shape[0], inputs.dtype, training))
        new_states = self.step(self.project(inputs), h, states)
        return new_states[0], new_states

    def recurrent_projection(self, h):
        """h @ recurrent_kernel: the recurrent part of every gate."""
        return engine.matmul(h, self.recurrent_kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


class SimpleRNNCell(GatedCell):
    """h = activation(x @ kernel + h @ recurrent_kernel + bias)."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def step(self, x_t, h, states):
        return [self.activation(x_t + self.recurrent_projection(h))]


class LSTMCell(GatedCell):
    """Gates i, f, c, o in the kernel columns; unit_forget_bias starts the f bias at 1. States
    [h, c]."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self):
        return [self.units, self.units]

    def initial_bias(self, shape, dtype="float32"):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype)
        units = self.units
        return engine.concat([self.bias_initializer((units,), dtype),
                              engine.ones((units,), dtype),
                              self.bias_initializer((2 * units,), dtype)], axis=0)

    def get_initial_state(self, batch_size, dtype="float32"):
        return [engine.zeros((batch_size, self.units), dtype),
                engine.zeros((batch_size, self.units), dtype)]

    def step(self, x_t, h, states):
        z = x_t + self.recurrent_projection(h)
        z_i, z_f, z_c, z_o = engine.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * states[1] + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        return [o * self.activation(c), c]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(GatedCell):
    """Gates z, r, h. reset_after=True (Keras 3's default) applies the reset gate after the
    recurrent matmul and keeps separate input and recurrent biases (bias shape (2, 3*units))."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        if not self.reset_after:
            return self.bias
        return engine.reshape(engine.slice(self.bias, (0, 0), (1, -1)), (3 * self.units,))

    def step(self, x_t, h, states):
        x_z, x_r, x_h = engine.split(x_t, 3, axis=1)
        if self.reset_after:
            inner = engine.matmul(h, self.recurrent_kernel)
            if self.use_bias:
                inner = inner + engine.reshape(engine.slice(self.bias, (1, 0), (1, -1)),
                                               (3 * self.units,))
            r_z, r_r, r_h = engine.split(inner, 3, axis=1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            k_zr, k_h = engine.split(self.recurrent_kernel, [2 * self.units, self.units], axis=1)
            r_z, r_r = engine.split(engine.matmul(h, k_zr), 2, axis=1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + engine.matmul(r * h, k_h))
        return [z * states[0] + (1 - z) * candidate]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


# ---------------------------------------------------------------------------- any cell


def check_cell(what, cell):
    """Refuse anything but a cell: a Layer with a `state_size` and call(inputs, states)."""
    if not isinstance(cell, Layer) or getattr(cell, "state_size", None) is None:
        found = (f"{type(cell).__name__} layer '{cell.name}' (no state_size)"
                 if isinstance(cell, Layer) else f"{type(cell).__name__} {cell!r}")
        raise ValueError(f"{what}: a cell must be a layer with a `state_size` attribute and a "
                         f"call(inputs, states) returning (output, new_states), such as "
                         f"LSTMCell, got {found}")


def state_sizes(cell):
    """The cell's state sizes as a flat list of ints (state_size may be an int or a list)."""
    size = cell.state_size
    sizes = list(size) if isinstance(size, (list, tuple)) else [size]
    return [int(s) for s in sizes]


def output_size(cell):
    """The cell's output width: its output_size, else its first state's size (as Keras)."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else state_sizes(cell)[0]


def initial_states(cell, batch, dtype):
    """Zeros of each state's shape, or the cell's own get_initial_state(batch_size)."""
    own = getattr(cell, "get_initial_state", None)
    if own is not None:
        states = own(batch, dtype) if isinstance(cell, (GatedCell, StackedRNNCells)) else \
            own(batch)
        return list(states) if isinstance(states, (list, tuple)) else [states]
    return [engine.zeros((batch, size), dtype) for size in state_sizes(cell)]


def built_features(cell):
    """The input width a built cell expects (None if not built or unknown)."""
    if not cell.built or cell._build_input_shape is None:
        return None
    return cell._build_input_shape[-1]


def describe(cls, name):
    return f"{cls.__name__} layer '{name}'" if name else cls.__name__


class StackedRNNCells(Layer):
    """Cells run one after another within each time step: each cell's output is the next one's
    input; the stack's output is the last cell's, its states are all the cells' states in order
    (a flat list)."""

    def __init__(self, cells, **kwargs):
        what = describe(StackedRNNCells, kwargs.get("name"))
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"{what}: `cells` must be a non-empty list of cells, got {cells!r}")
        cells = [_as_cell(cell) for cell in cells]
        for cell in cells:
            check_cell(what, cell)
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [size for cell in self.cells for size in state_sizes(cell)]

    @property
    def output_size(self):
        return output_size(self.cells[-1])

    def check_input(self, what, features):
        """Refuse (before anything is built) a built cell whose input width is not the width it
        will get: the stack's input for the first cell, the previous cell's output after."""
        for index, cell in enumerate(self.cells):
            expected = built_features(cell)
            if expected is not None and features is not None and expected != features:
                source = "the input" if index == 0 else \
                    f"cell '{self.cells[index - 1].name}' outputs"
                raise ValueError(f"{what}: cell '{cell.name}' was built for {expected} input "
                                 f"features but {source} {features}")
            features = output_size(cell)

    def build(self, input_shape):
        self.check_input(describe(StackedRNNCells, self.name), input_shape[-1])
        shape = tuple(input_shape)
        for cell in self.cells:
            cell.build_from_shape(shape)
            shape = shape[:-1] + (output_size(cell),)

    def get_initial_state(self, batch_size, dtype="float32"):
        return [state for cell in self.cells for state in initial_states(cell, batch_size, dtype)]

    def reset_dropout_mask(self):
        for cell in self.cells:
            reset_dropout_mask(cell)

    def call(self, inputs, states, training=False):
        states = list(states)
        new_states, start = [], 0
        for cell in self.cells:
            count = len(state_sizes(cell))
            inputs, cell_states = run_cell(cell, inputs, states[start:start + count], training)
            new_states.extend(cell_states)
            start += count
        return inputs, new_states

    def get_config(self):
        from engine.layers.wrappers import keras3_entry

        return {**super().get_config(), "cells": [keras3_entry(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls([_as_cell(cell) for cell in config.pop("cells")], **config)


def reset_dropout_mask(cell):
    """New dropout masks for the next sequence, for cells that keep them (Keras's
    DropoutRNNCell's reset_dropout_mask)."""
    reset = getattr(cell, "reset_dropout_mask", None)
    if callable(reset):
        reset()


def fresh_cell(cell):
    """A new cell of `cell`'s class and config (a user's cell class kept, not looked up by
    name), its stacked cells fresh too."""
    if isinstance(cell, StackedRNNCells):
        config = cell.get_config()
        config.pop("cells")
        return StackedRNNCells([fresh_cell(inner) for inner in cell.cells], **config)
    return type(cell).from_config(cell.get_config())


def run_cell(cell, inputs, states, training):
    """(output, [new states]) of one step of any cell."""
    output, new_states = cell(inputs, states, training=training)
    new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    return output, new_states


def _as_cell(value):
    """A cell from a cell or its {"class_name", "config"} entry."""
    if isinstance(value, dict) and "class_name" in value:
        from engine.layers import deserialize

        return deserialize(value)
    return value
