"""Keras's attention layers: MultiHeadAttention and (dot-product) Attention, written with engine
ops (matmul, reshape, transpose, softmax, where) so they train on every backend."""
import math

import engine
from engine import constraints, initializers, regularizers
from engine.layers.base import Layer, next_seed
from engine.layers.core import weight_constraints

_LARGE_NEGATIVE = -1e9  # Keras's score for masked positions (float32 and wider)


def _bool_mask(mask):
    return None if mask is None else engine.cast(mask, "bool")


def _combine(*masks):
    """The logical AND of the masks that are not None (None if all are)."""
    result = None
    for mask in masks:
        if mask is not None:
            result = mask if result is None else engine.logical_and(result, mask)
    return result


def causal_mask(query_length, value_length, like):
    """(1, T, S) bool: query step i may attend to value steps j <= i."""
    rows = engine.reshape(engine.arange(query_length, dtype="int32", backend=like.backend),
                          (1, query_length, 1))
    columns = engine.reshape(engine.arange(value_length, dtype="int32", backend=like.backend),
                             (1, 1, value_length))
    return engine.greater_equal(rows, columns)


def masked_softmax(scores, mask):
    """Keras's Softmax layer with a mask: masked scores set to -1e9 before the softmax over the
    last axis and masked probabilities to 0 after it (a fully masked row gives zeros)."""
    if mask is None:
        return engine.softmax(scores, -1)
    while mask.ndim < scores.ndim:  # (B, T, S) -> (B, 1, T, S): the same for every head
        mask = engine.expand_dims(mask, -3)
    probabilities = engine.softmax(engine.where(mask, scores, _LARGE_NEGATIVE), -1)
    return engine.where(mask, probabilities, 0.0)


def _differ(size, other):
    """Whether two static sizes are known and different."""
    return size is not None and other is not None and size != other


def _positive_int(layer, argument, value, optional=False):
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Layer '{layer}' (MultiHeadAttention): `{argument}` must be a "
                         f"positive integer{' or None' if optional else ''}. Received: "
                         f"{argument}={value!r}")


class MultiHeadAttention(Layer):
    """Keras's multi-head attention over axis 1 of (batch, steps, features) inputs: query, key
    and value projected to `num_heads` heads, scaled dot-product attention per head, the heads
    concatenated and projected to the query's features (or `output_shape`)."""

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, seed=None, **kwargs):
        label = kwargs.get("name") or "multi_head_attention"
        _positive_int(label, "num_heads", num_heads)
        _positive_int(label, "key_dim", key_dim)
        _positive_int(label, "value_dim", value_dim, optional=True)
        if not 0 <= dropout < 1:
            raise ValueError(f"Layer '{label}' (MultiHeadAttention): `dropout` must be in "
                             f"[0, 1). Received: dropout={dropout!r}")
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ValueError(f"Layer '{label}' (MultiHeadAttention): only a single output "
                                 f"feature size is supported. Received: "
                                 f"output_shape={output_shape!r}")
            output_shape = output_shape[0]
        _positive_int(label, "output_shape", output_shape, optional=True)
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes is not None and tuple(axes) != (1,):
            raise ValueError(f"Layer '{label}' (MultiHeadAttention): only attention over axis "
                             f"1 of (batch, steps, features) inputs is supported (the default, "
                             f"attention_axes=None or (1,)). Received: "
                             f"attention_axes={attention_axes!r}")
        super().__init__(**kwargs)
        weight_constraints(self, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout, self.use_bias, self.seed = dropout, use_bias, seed
        self._output_features = output_shape
        self.attention_axes = None if axes is None else (1,)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"Layer '{self.name}' (MultiHeadAttention) supports only "
                                 f"(batch, steps, features) inputs with known features; "
                                 f"{name} has shape {tuple(shape)}")
        self._check_steps(value_shape, key_shape)
        heads, out = self.num_heads, self._output_features or query_shape[-1]
        self.query_kernel, self.query_bias = self._projection(
            "query", (query_shape[-1], heads, self.key_dim), (heads, self.key_dim))
        self.key_kernel, self.key_bias = self._projection(
            "key", (key_shape[-1], heads, self.key_dim), (heads, self.key_dim))
        self.value_kernel, self.value_bias = self._projection(
            "value", (value_shape[-1], heads, self.value_dim), (heads, self.value_dim))
        self.output_kernel, self.output_bias = self._projection(
            "attention_output", (heads, self.value_dim, out), (out,))
        self.attention_axes = (1,)

    def _projection(self, name, kernel_shape, bias_shape):
        kernel = self.add_weight(kernel_shape, self.kernel_initializer,
                                 regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint, name=f"{name}/kernel")
        bias = self.add_weight(bias_shape, self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                               name=f"{name}/bias") if self.use_bias else None
        return kernel, bias

    def _check_steps(self, value_shape, key_shape):
        if value_shape[1] is not None and key_shape[1] is not None \
                and value_shape[1] != key_shape[1]:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): all dimensions of "
                             f"`value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={tuple(value_shape)} and "
                             f"key_shape={tuple(key_shape)}")

    def _check_call(self, query, value, key):
        expected = (("query", query, self.query_kernel), ("value", value, self.value_kernel),
                    ("key", key, self.key_kernel))
        for name, tensor, kernel in expected:
            if tensor.ndim != 3 or tensor.shape[-1] != kernel.shape[0]:
                raise ValueError(f"Layer '{self.name}' (MultiHeadAttention) expects {name} of "
                                 f"shape (batch, steps, {kernel.shape[0]}); received "
                                 f"{tuple(tensor.shape)}")
        if query.shape[0] != value.shape[0] or value.shape[0] != key.shape[0]:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): query, value and key "
                             f"must have the same batch size; received {tuple(query.shape)}, "
                             f"{tuple(value.shape)} and {tuple(key.shape)}")
        self._check_steps(value.shape, key.shape)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        """Keras's call. The Keras masks of query, value and key arrive as query_mask,
        value_mask and key_mask (filled in by Layer.__call__) and combine with attention_mask
        and the causal mask as in Keras's _compute_attention_mask."""
        key = value if key is None else key
        self._check_call(query, value, key)
        mask = _combine(
            None if query_mask is None else engine.expand_dims(_bool_mask(query_mask), -1),
            None if value_mask is None else engine.expand_dims(_bool_mask(value_mask), -2),
            None if key_mask is None else engine.expand_dims(_bool_mask(key_mask), -2),
            causal_mask(query.shape[1], value.shape[1], query) if use_causal_mask else None)
        mask = _combine(_bool_mask(attention_mask), mask)
        heads_query = self._split_heads(query, self.query_kernel, self.query_bias)
        heads_key = self._split_heads(key, self.key_kernel, self.key_bias)
        heads_value = self._split_heads(value, self.value_kernel, self.value_bias)
        scaled = heads_query * (1.0 / math.sqrt(float(self.key_dim)))
        scores = masked_softmax(engine.matmul(scaled, heads_key, transpose_b=True), mask)
        weights = scores
        if training and self.dropout > 0:
            weights = engine.dropout(scores, self.dropout, seed=next_seed(self))
        context = engine.transpose(engine.matmul(weights, heads_value), (0, 2, 1, 3))
        batch, steps = context.shape[:2]
        heads = engine.reshape(context, (batch, steps, self.num_heads * self.value_dim))
        kernel = self.output_kernel
        output = engine.matmul(heads, engine.reshape(kernel, (-1, kernel.shape[-1])))
        if self.output_bias is not None:
            output = output + self.output_bias
        return (output, scores) if return_attention_scores else output

    def _split_heads(self, inputs, kernel, bias):
        """(B, T, features) @ kernel (features, heads, size) (+ bias) -> (B, heads, T, size)."""
        features, heads, size = kernel.shape
        projected = engine.matmul(inputs, engine.reshape(kernel, (features, heads * size)))
        if bias is not None:
            projected = projected + engine.reshape(bias, (heads * size,))
        projected = engine.reshape(projected, inputs.shape[:2] + (heads, size))
        return engine.transpose(projected, (0, 2, 1, 3))

    def get_config(self):
        output_shape = None if self._output_features is None else [self._output_features]
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "output_shape": output_shape,
                "attention_axes": None if self.attention_axes is None else [1],
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint), "seed": self.seed}


class Attention(Layer):
    """Keras's dot-product (Luong-style) attention on [query, value] or [query, value, key]:
    softmax(query @ key^T) @ value, with an optional trainable `scale` and, for
    score_mode="concat", sum(tanh(query + key)) scores times `concat_score_weight`."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        label = kwargs.get("name") or "attention"
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Layer '{label}' (Attention): invalid value for argument "
                             f"score_mode. Expected one of {{'dot', 'concat'}}. Received: "
                             f"score_mode={score_mode!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"Layer '{label}' (Attention): `dropout` must be in [0, 1). "
                             f"Received: dropout={dropout!r}")
        super().__init__(**kwargs)
        self.use_scale, self.score_mode = bool(use_scale), score_mode
        self.dropout, self.seed = dropout, seed
        self.scale = self.concat_score_weight = None

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or not 2 <= len(shapes) <= 3 \
                or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"Layer '{self.name}' (Attention) must be called on a list of "
                             f"inputs, namely [query, value] or [query, value, key]. "
                             f"Received shapes: {shapes}")
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if len({len(query), len(value), len(key)}) != 1 or len(query) < 2 \
                or _differ(query[-1], key[-1]) or _differ(value[-2], key[-2]):
            raise ValueError(f"Layer '{self.name}' (Attention): query (batch, Tq, dim) and key "
                             f"(batch, Tv, dim) must have the same dim, and value and key the "
                             f"same Tv. Received query, value, key shapes {tuple(query)}, "
                             f"{tuple(value)}, {tuple(key)}")

    def build(self, input_shape):
        self._check(input_shape)
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")

    def _scores(self, query, key):
        if self.score_mode == "dot":
            scores = engine.matmul(query, key, transpose_b=True)
            return scores * self.scale if self.scale is not None else scores
        summed = engine.expand_dims(query, -2) + engine.expand_dims(key, -3)
        if self.scale is not None:
            summed = summed * self.scale
        return self.concat_score_weight * engine.sum(engine.tanh(summed), axis=-1)

    def call(self, inputs, mask=None, training=False, return_attention_scores=False,
             use_causal_mask=False):
        self._check([tuple(t.shape) for t in inputs] if isinstance(inputs, (list, tuple))
                    else inputs)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask, value_mask = (mask[0], mask[1]) if mask else (None, None)
        scores = self._scores(query, key)
        keep = None if value_mask is None else engine.expand_dims(_bool_mask(value_mask), -2)
        if use_causal_mask:
            keep = _combine(keep, causal_mask(scores.shape[-2], scores.shape[-1], scores))
        if keep is not None:  # Keras: masked scores lowered by 1e9 (not zeroed after softmax)
            scores = engine.where(keep, scores, scores - 1e9)
        weights = engine.softmax(scores, -1)
        dropped = weights
        if training and self.dropout > 0:
            dropped = engine.dropout(weights, self.dropout, seed=next_seed(self))
        output = engine.matmul(dropped, value)
        if query_mask is not None:
            output = engine.where(engine.expand_dims(_bool_mask(query_mask), -1), output, 0.0)
        return (output, weights) if return_attention_scores else output

    def compute_mask(self, inputs, previous_mask):
        """The query's mask."""
        return previous_mask[0] if previous_mask else None

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}
