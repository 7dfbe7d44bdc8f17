"""ConvLSTM2D, as in Keras 3: an LSTM whose input and recurrent transformations are 2-D
convolutions, over (batch, time, rows, cols, channels) inputs (channels_last). Its cell is
the LSTM cell with convolutions in place of the matmuls, so the RNN loop, masks, dropout and
the LSTM gate math (i, f, c, o) are the ones of engine.layers.recurrent / rnn_cells."""
import numbers

import engine
from engine import regularizers
from engine.layers.base import InputSpec, next_seed
from engine.layers.conv import as_tuple, conv_output_length
from engine.layers.recurrent import LSTM, CellLayer, _cell_attribute
from engine.layers.rnn_cells import LSTMCell, describe


def check_conv_arguments(what, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, dropout, recurrent_dropout):
    """The convolution arguments as (kernel_size, strides, padding, dilation_rate) tuples and
    a lowercase padding; a ValueError naming `what` for any bad one."""
    if not isinstance(filters, numbers.Integral) or isinstance(filters, bool) or filters <= 0:
        raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
    try:
        sizes = [as_tuple(value, 2, name) for value, name in (
            (kernel_size, "kernel_size"), (strides, "strides"),
            (dilation_rate, "dilation_rate"))]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what}: {error}") from None
    kernel_size, strides, dilation_rate = sizes
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{what}: strides {strides} > 1 together with dilation_rate "
                         f"{dilation_rate} > 1 is not supported")
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ValueError(f"{what}: padding must be 'valid' or 'same', got {padding!r}")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{what}: only data_format='channels_last' is supported, got "
                         f"{data_format!r}")
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"{what}: {name} must be a number in [0, 1), got {rate!r}")
    return kernel_size, strides, padding, dilation_rate


class ConvLSTMCell(LSTMCell):
    """One ConvLSTM2D step on (batch, rows, cols, channels) inputs; states [h, c] of shape
    (batch, out_rows, out_cols, filters). kernel (kh, kw, channels, 4 * filters) convolves the
    input with the layer's strides, padding and dilations; recurrent_kernel (kh, kw, filters,
    4 * filters) convolves h with stride 1 and 'same' padding. Keras 3 has no public class for
    this cell (its internal one is ConvLSTMCell); ConvLSTM2D's config flattens it in.

    Dropout masks are elementwise over a step's input (or h) and kept for the whole sequence,
    one mask shared by the four gates (Keras draws one per gate; the expected output is the
    same)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, dropout=0.0, recurrent_dropout=0.0, **kwargs):
        what = describe(type(self), kwargs.get("name"))
        self.kernel_size, self.strides, self.padding, self.dilation_rate = \
            check_conv_arguments(what, filters, kernel_size, strides, padding, data_format,
                                 dilation_rate, dropout, recurrent_dropout)
        super().__init__(int(filters), dropout=dropout, recurrent_dropout=recurrent_dropout,
                         **kwargs)
        self.data_format = "channels_last"
        self.input_spec = InputSpec(ndim=4)

    @property
    def filters(self):
        return self.units

    def build(self, input_shape):
        rows, cols, channels = input_shape[1:]
        if rows is None or cols is None or channels is None:
            raise ValueError(f"{describe(type(self), self.name)}: the rows, columns and "
                             f"channels of the input must be known, got input shape "
                             f"{tuple(input_shape)}")
        self.spatial_dims = (rows, cols)
        width = 4 * self.filters
        self.kernel = self.add_weight(self.kernel_size + (channels, width),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.recurrent_kernel = self.add_weight(self.kernel_size + (self.filters, width),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint,
                                                name="recurrent_kernel")
        self.bias = self.add_weight((width,), self.initial_bias,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def state_shape(self, batch):
        """(batch, out_rows, out_cols, filters): the convolution's output for one step."""
        return self.compute_output_shape((batch,) + self.spatial_dims + (None,))

    def get_initial_state(self, batch_size, dtype="float32"):
        shape = self.state_shape(batch_size)
        return [engine.zeros(shape, dtype), engine.zeros(shape, dtype)]

    def project(self, inputs):
        """The input convolution plus bias for (batch, rows, cols, channels) inputs, or for
        (batch, steps, rows, cols, channels) ones as one convolution over all the images."""
        shape = tuple(inputs.shape)
        images = engine.reshape(inputs, (-1,) + shape[-3:])
        projected = engine.conv2d(images, self.kernel, strides=self.strides,
                                  padding=self.padding, dilations=self.dilation_rate)
        if self.use_bias:
            projected = projected + self.bias
        return engine.reshape(projected, shape[:-3] + tuple(projected.shape[1:]))

    def recurrent_projection(self, h):
        return engine.conv2d(h, self.recurrent_kernel, padding="same")

    def input_dropout_mask(self, inputs, training):
        """An elementwise mask over one step's input, the same at every step."""
        if not (training and self.dropout):
            return None
        shape = tuple(inputs.shape)
        shape = shape[:1] + (1,) * (len(shape) - 4) + shape[-3:]
        return engine.dropout(engine.ones(shape, inputs.dtype), self.dropout,
                              seed=next_seed(self))

    def recurrent_dropout_mask(self, batch, dtype, training):
        if not (training and self.recurrent_dropout):
            return None
        return engine.dropout(engine.ones(self.state_shape(batch), dtype),
                              self.recurrent_dropout, seed=next_seed(self))

    def compute_output_shape(self, input_shape):
        spatial = tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in zip(
            input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate))
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self):
        config = super().get_config()
        del config["units"]
        return {**config, "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate)}


class ConvLSTM2D(CellLayer):
    """The LSTM over time of (batch, time, rows, cols, channels) inputs with convolutional
    gates: the last h (batch, out_rows, out_cols, filters), or with return_sequences every
    step's; with return_state the final [h, c] follow it."""

    cell_class = ConvLSTMCell
    unit_forget_bias = LSTM.unit_forget_bias

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0,
                 **kwargs):
        what = describe(type(self), kwargs.get("name"))
        check_conv_arguments(what, filters, kernel_size, strides, padding, data_format,
                             dilation_rate, dropout, recurrent_dropout)
        options = {"kernel_size": kernel_size, "strides": strides, "padding": padding,
                   "data_format": data_format, "dilation_rate": dilation_rate,
                   "unit_forget_bias": unit_forget_bias}
        super().__init__(filters, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         cell_options=options, **kwargs)
        self.input_spec = InputSpec(ndim=5)

    def state_shapes(self, batch):
        return [self.cell.state_shape(batch)] * 2

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[:2]
        state = self.cell.compute_output_shape((batch,) + tuple(input_shape[2:]))
        output = (batch, steps) + state[1:] if self.return_sequences else state
        return [output, state, state] if self.return_state else output

    def get_config(self):
        return {**super().get_config(),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer)}


for _name in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
              "kernel_constraint", "recurrent_constraint", "bias_constraint"):
    setattr(ConvLSTM2D, _name, _cell_attribute(_name))
