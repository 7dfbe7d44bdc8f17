"""Activation functions by Keras name, written with engine ops so they run on every backend."""
import engine


def linear(x):
    return x


def relu(x):
    return engine.relu(x)


def sigmoid(x):
    return engine.sigmoid(x)


def tanh(x):
    return engine.tanh(x)


def softmax(x, axis=-1):
    return engine.softmax(x, axis)


def elu(x, alpha=1.0):
    if alpha == 1.0:
        return engine.elu(x)
    return engine.where(x > 0, x, engine.elu(x) * alpha)


def selu(x):
    return engine.selu(x)


def gelu(x, approximate=False):
    return engine.gelu(x, approximate)


def softplus(x):
    return engine.softplus(x)


def leaky_relu(x, negative_slope=0.2):
    return engine.leaky_relu(x, negative_slope)


def silu(x):
    """x * sigmoid(x), also called swish."""
    return x * engine.sigmoid(x)


def hard_sigmoid(x):
    """Keras 3's definition: relu6(x + 3) / 6."""
    return engine.relu6(x + 3.0) / 6.0


def legacy_hard_sigmoid(x):
    """Keras 2 and TF.js's hard_sigmoid: clip(0.2 x + 0.5, 0, 1) (files from them use it)."""
    return engine.clip(x * 0.2 + 0.5, 0.0, 1.0)


def hard_silu(x):
    """x * hard_sigmoid(x), also called hard_swish."""
    return x * hard_sigmoid(x)


def exponential(x):
    return engine.exp(x)


def relu6(x):
    return engine.relu6(x)


def softsign(x):
    return x / (engine.abs(x) + 1.0)


def mish(x):
    return x * engine.tanh(engine.softplus(x))


def log_softmax(x, axis=-1):
    return engine.log_softmax(x, axis)


_BY_NAME = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "elu": elu, "selu": selu, "gelu": gelu, "softplus": softplus, "leaky_relu": leaky_relu,
    "swish": silu, "silu": silu, "hard_sigmoid": hard_sigmoid,
    "legacy_hard_sigmoid": legacy_hard_sigmoid, "exponential": exponential,
    "hard_silu": hard_silu, "hard_swish": hard_silu, "relu6": relu6, "softsign": softsign,
    "mish": mish, "log_softmax": log_softmax,
}


def get(identifier):
    """The activation function for a Keras name, a callable, or None (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):  # Keras 3 may store {"class_name": "function", "config": name}
        identifier = identifier.get("config", identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown activation: {identifier!r}. Known activations: "
                     f"{', '.join(sorted(_BY_NAME))}")


def fused_name(activation):
    """'linear' or 'relu' when `activation` is one a fused op applies itself (fused_matmul,
    fused_conv2d), else None."""
    return {linear: "linear", relu: "relu", engine.relu: "relu"}.get(activation)


def serialize(activation):
    """The Keras name of an activation function (for get_config)."""
    return getattr(activation, "__name__", str(activation))
