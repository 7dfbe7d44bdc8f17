"""Recurrent layers over (batch, timesteps, features): SimpleRNN, LSTM (gates i, f, c, o) and
GRU (gates z, r, h; reset_after as in Keras 3 by default), unrolled step by step with engine
ops so they train on every backend."""
import engine
from engine import activations, initializers, regularizers
from engine.layers.base import InputSpec, Layer, next_seed
from engine.layers.core import no_constraint


class RNN(Layer):
    """Shared arguments, weights, time loop and config; subclasses define `gates`, `step`."""

    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        no_constraint(self.name, kernel_constraint=kernel_constraint,
                      recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        if stateful:
            raise ValueError(f"Layer '{self.name}': stateful=True is not supported")
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
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll = go_backwards, False, unroll
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.seed = seed
        self.input_spec = InputSpec(ndim=3)

    def bias_shape(self):
        return (self.gates * self.units,)

    def initial_bias(self, shape, dtype="float32"):
        return self.bias_initializer(shape, dtype)

    def build(self, input_shape):
        features = input_shape[-1]
        width = self.gates * self.units
        self.kernel = self.add_weight((features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(self.bias_shape(), self.initial_bias,
                                    regularizer=self.bias_regularizer,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(ndim=3, axes={-1: features})

    def initial_states(self, batch, dtype):
        return [engine.zeros((batch, self.units), dtype)]

    def input_bias(self):
        """The bias added to x @ kernel (all of it, except GRU's recurrent half)."""
        return self.bias

    def call(self, inputs, training=False, mask=None):
        """With a (batch, steps) mask, a masked step leaves the states as they were and repeats
        the previous output (zeros before the first kept step; always zeros with
        zero_output_for_mask), as Keras's RNN loop does."""
        batch, steps, features = inputs.shape
        if mask is not None:
            mask = engine.cast(engine.convert_to_tensor(mask, like=inputs), "bool")
        if training and self.dropout:
            mask = engine.dropout(engine.ones((batch, 1, features), inputs.dtype), self.dropout,
                                  seed=next_seed(self))
            inputs = inputs * mask
        projected = engine.matmul(engine.reshape(inputs, (batch * steps, features)), self.kernel)
        if self.use_bias and self.input_bias() is not None:
            projected = projected + self.input_bias()
        projected = engine.reshape(projected, (batch, steps, self.gates * self.units))
        recurrent_mask = None
        if training and self.recurrent_dropout:
            recurrent_mask = engine.dropout(engine.ones((batch, self.units), inputs.dtype),
                                            self.recurrent_dropout, seed=next_seed(self))
        states = self.initial_states(batch, inputs.dtype)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            x_t = engine.reshape(engine.slice(projected, (0, t, 0), (batch, 1, -1)),
                                 (batch, self.gates * self.units))
            h = states[0] if recurrent_mask is None else states[0] * recurrent_mask
            new_states = self.step(x_t, h, states)
            if mask is None:
                states = new_states
                outputs.append(states[0])
                continue
            kept = engine.slice(mask, (0, t), (batch, 1))
            previous = (outputs[-1] if outputs and not self.zero_output_for_mask
                        else engine.zeros_like(new_states[0]))
            outputs.append(engine.where(kept, new_states[0], previous))
            states = [engine.where(kept, new, old) for new, old in zip(new_states, states)]
        output = engine.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [output] + states if self.return_state else output

    def compute_mask(self, inputs, previous_mask):
        """The input's mask goes on with the sequence output; a last output or a state has
        none."""
        mask = previous_mask if self.return_sequences else None
        if self.return_state:
            return [mask] + [None] * len(self.initial_states(1, "float32"))
        return mask

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * len(self.initial_states(1, "float32"))
        return output

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
                "kernel_constraint": None, "recurrent_constraint": None,
                "bias_constraint": None, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": False, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask, "seed": self.seed}


class SimpleRNN(RNN):
    """h = activation(x @ kernel + h @ recurrent_kernel + bias)."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def step(self, x_t, h, states):
        return [self.activation(x_t + engine.matmul(h, self.recurrent_kernel))]


class LSTM(RNN):
    """Gates i, f, c, o in the kernel columns; unit_forget_bias starts the f bias at 1."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def initial_bias(self, shape, dtype="float32"):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype)
        units = self.units
        return engine.concat([self.bias_initializer((units,), dtype),
                              engine.ones((units,), dtype),
                              self.bias_initializer((2 * units,), dtype)], axis=0)

    def initial_states(self, batch, dtype):
        return [engine.zeros((batch, self.units), dtype), engine.zeros((batch, self.units), dtype)]

    def step(self, x_t, h, states):
        z = x_t + engine.matmul(h, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = engine.split(z, 4, axis=1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * states[1] + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        return [o * self.activation(c), c]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(RNN):
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
