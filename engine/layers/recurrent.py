"""The recurrent layer RNN(cell), one time loop for every cell (engine.layers.rnn_cells, or a
user's: a layer with `state_size` and call(inputs, states) -> (output, new_states)), unrolled
step by step with engine ops so it trains on every backend; and SimpleRNN, LSTM and GRU, which
are RNN over their cell with the cell's arguments and config flattened in, as in Keras."""
import engine
from engine.layers.base import InputSpec, Layer, to_snake_case
from engine.layers.rnn_cells import (GatedCell, GRUCell, LSTMCell, SimpleRNNCell,
                                     StackedRNNCells, built_features, check_cell, describe,
                                     initial_states, output_size, reset_dropout_mask,
                                     run_cell, state_sizes)


class RNN(Layer):
    """Run `cell` over the time axis of (batch, timesteps, features) inputs: the last output,
    or with return_sequences every step's; with return_state the final states follow it. A list
    of cells is a StackedRNNCells."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        what = describe(type(self), kwargs.get("name"))
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell, dtype=kwargs.get("dtype"))
        if isinstance(cell, dict) and "class_name" in cell:
            from engine.layers import deserialize

            cell = deserialize(cell)
        check_cell(what, cell)
        if stateful:
            raise ValueError(f"{what}: stateful=True is not supported")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll = go_backwards, False, unroll
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        features = input_shape[-1]
        what = describe(type(self), self.name)
        if isinstance(self.cell, StackedRNNCells):
            self.cell.check_input(what, features)
        else:
            expected = built_features(self.cell)
            if expected is not None and features is not None and expected != features:
                raise ValueError(f"{what}: its cell '{self.cell.name}' was built for {expected} "
                                 f"input features but the input has {features}")
        self.cell.build_from_shape((input_shape[0],) + tuple(input_shape[2:]))
        _scope_weights(self.cell, self.name)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={-1: features})

    def initial_states(self, batch, dtype):
        return initial_states(self.cell, batch, dtype)

    def call(self, inputs, initial_state=None, training=False, mask=None):
        """States start at `initial_state` (a list, one (batch, size) tensor per state) or
        zeros. With a (batch, steps) mask, a masked step leaves the states as they were and
        repeats the previous output (zeros before the first kept step; always zeros with
        zero_output_for_mask), as Keras's RNN loop does."""
        batch, steps = inputs.shape[:2]
        states = (self.initial_states(batch, inputs.dtype) if initial_state is None
                  else self._given_states(initial_state, batch))
        if mask is not None:
            mask = engine.cast(engine.convert_to_tensor(mask, like=inputs), "bool")
        step = self._step_function(inputs, training)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            output, new_states = step(t, states)
            if mask is None:
                states = new_states
                outputs.append(output)
                continue
            kept = engine.slice(mask, (0, t), (batch, 1))
            previous = (outputs[-1] if outputs and not self.zero_output_for_mask
                        else engine.zeros_like(output))
            outputs.append(engine.where(_per_sample(kept, output), output, previous))
            states = [engine.where(_per_sample(kept, new), new, old)
                      for new, old in zip(new_states, states)]
        output = engine.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [output] + states if self.return_state else output

    def _given_states(self, initial_state, batch):
        """`initial_state` as a list of tensors, checked against the cell's state sizes."""
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
            [initial_state]
        expected = self.state_shapes(batch)
        shapes = [tuple(getattr(state, "shape", ())) for state in given]
        if shapes != expected:
            raise ValueError(f"{describe(type(self), self.name)}: initial_state must be "
                             f"{len(expected)} tensors of shapes {expected}, got shapes "
                             f"{shapes}")
        return [engine.convert_to_tensor(state) for state in given]

    def state_shapes(self, batch):
        """The shape of each state: (batch, size)."""
        return [(batch, size) for size in state_sizes(self.cell)]

    def _step_function(self, inputs, training):
        """step(t, states) -> (output, new states). A built-in cell's input projection is one
        matmul over all the steps (its input dropout mask the same at every step)."""
        cell, batch = self.cell, inputs.shape[0]
        if not isinstance(cell, GatedCell):
            reset_dropout_mask(cell)
            inputs_at = _time_steps(inputs)

            def step(t, states):
                return run_cell(cell, inputs_at[t], states, training)

            return step
        dropped = cell.input_dropout_mask(inputs, training)
        projected = _time_steps(cell.project(inputs if dropped is None else inputs * dropped))
        recurrent_mask = cell.recurrent_dropout_mask(batch, inputs.dtype, training)

        def fast_step(t, states):
            x_t = projected[t]
            h = states[0] if recurrent_mask is None else states[0] * recurrent_mask
            new_states = cell.step(x_t, h, states)
            return new_states[0], new_states

        return fast_step

    def compute_mask(self, inputs, previous_mask):
        """The input's mask goes on with the sequence output; a last output or a state has
        none."""
        mask = previous_mask if self.return_sequences else None
        if self.return_state:
            return [mask] + [None] * len(state_sizes(self.cell))
        return mask

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        units = output_size(self.cell)
        output = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [output] + [(batch, size) for size in state_sizes(self.cell)]
        return output

    def rnn_config(self):
        return {"return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": False, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}

    def get_config(self):
        from engine.layers.wrappers import keras3_entry

        return {**super().get_config(), **self.rnn_config(), "cell": keras3_entry(self.cell)}


def _time_steps(sequences):
    """The steps of (batch, steps, ...) sequences, each (batch, ...): one split (its gradient
    one concat, where a slice per step made a zero-padded copy per step to add up)."""
    shape = tuple(sequences.shape)
    if shape[1] == 0:
        return []
    return [engine.reshape(step, shape[:1] + shape[2:])
            for step in engine.split(sequences, shape[1], axis=1)]


def _per_sample(kept, like):
    """A (batch, 1) mask shaped to broadcast over `like`'s (batch, ...) values."""
    return engine.reshape(kept, (kept.shape[0],) + (1,) * (len(like.shape) - 1))


def _scope_weights(cell, scope):
    """Name a cell's weights as TF.js does: '<rnn>/kernel', and in a stack
    '<rnn>/RNNCell_<i>/kernel' (unique, and what TF.js files hold)."""
    if isinstance(cell, StackedRNNCells):
        for index, inner in enumerate(cell.cells):
            _scope_weights(inner, f"{scope}/RNNCell_{index}")
        return
    prefix = cell.name + "/"
    for variable in cell.weights:
        if variable.name.startswith(prefix):
            variable.name = f"{scope}/{variable.name[len(prefix):]}"


class CellLayer(RNN):
    """SimpleRNN, LSTM, GRU: RNN over a `cell_class` cell made from the same arguments; its
    config is the cell's and the RNN's in one, as Keras writes it."""

    cell_class = None

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None,
                 zero_output_for_mask=False, cell_options=None, **kwargs):
        name = kwargs.get("name")
        if stateful:
            raise ValueError(f"{describe(type(self), name)}: stateful=True is not supported")
        cell = self.cell_class(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True),
            name=to_snake_case(self.cell_class.__name__),
            **(cell_options or {}))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)

    def get_config(self):
        cell = {key: value for key, value in self.cell.get_config().items()
                if key not in ("name", "trainable", "dtype")}
        return {**Layer.get_config(self), **cell, **self.rnn_config()}


def _cell_attribute(name):
    """A property of the layer that reads and sets its cell's attribute `name`."""
    return property(lambda self: getattr(self.cell, name),
                    lambda self, value: setattr(self.cell, name, value),
                    doc=f"The cell's {name}.")


for _name in ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "kernel_regularizer",
              "recurrent_regularizer", "bias_regularizer", "dropout", "recurrent_dropout",
              "seed", "kernel", "recurrent_kernel", "bias"):
    setattr(CellLayer, _name, _cell_attribute(_name))


class SimpleRNN(CellLayer):
    """h = activation(x @ kernel + h @ recurrent_kernel + bias)."""

    cell_class = SimpleRNNCell

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)


class LSTM(CellLayer):
    """Gates i, f, c, o in the kernel columns; unit_forget_bias starts the f bias at 1."""

    cell_class = LSTMCell
    unit_forget_bias = _cell_attribute("unit_forget_bias")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, cell_options={"unit_forget_bias": unit_forget_bias}, **kwargs)


class GRU(CellLayer):
    """Gates z, r, h. reset_after=True (Keras 3's default) applies the reset gate after the
    recurrent matmul and keeps separate input and recurrent biases (bias shape (2, 3*units))."""

    cell_class = GRUCell
    reset_after = _cell_attribute("reset_after")

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, cell_options={"reset_after": reset_after}, **kwargs)
