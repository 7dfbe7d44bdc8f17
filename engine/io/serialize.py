"""Model <-> canonical config (see config_normalize), and each layer's weights by name."""
import inspect

from engine.io import config_normalize
from engine.io.config_normalize import OURS
from engine.models.functional_config import functional_from_config, nodes_in_model

# Config keys that only steer how Keras computes (not what): dropped when our layer lacks them.
_HINTS = {"implementation", "unroll", "zero_output_for_mask", "sparse", "ragged", "optional",
          "synchronized", "seed", "lora_rank", "lora_alpha", "quantization_config",
          "renorm_momentum", "renorm_clipping"}
# Values of other unknown keys that mean "feature off".
_OFF = (None, False, 1, [], {})
# Unknown keys whose value is what this engine always does (Keras writes autocast=True in a
# custom layer's config).
_DEFAULTS = {"autocast": True}


class UnknownLayerError(ValueError):
    """A config names a layer class this engine does not know (pass it in custom_objects)."""


# ---------------------------------------------------------------------------- model -> config


def model_config(model):
    """The canonical config of a Sequential or Functional model (from its get_config)."""
    if not is_model(model):
        raise TypeError(f"Only Sequential and functional models can be saved with their "
                        f"architecture; got {type(model).__name__} (use save_weights)")
    return config_normalize.normalize({"class_name": type(model).__name__,
                                       "config": model.get_config()}, style=OURS)


def tensor_spec(model):
    """A function (layer name, node, tensor) -> (shape, dtype) of that output, the node counted
    among the layer's calls in the functional model whose config names it (`model` or one
    nested in it; the outer one first where names repeat)."""
    from engine.models import Functional

    nodes = {}
    for owner in _models(model):
        if isinstance(owner, Functional):
            for layer, layer_nodes in nodes_in_model(owner).items():
                nodes.setdefault(layer.name, layer_nodes)

    def spec(history):
        name, node_index, tensor_index = history
        tensor = nodes[name][node_index].output_tensors[tensor_index]
        return tensor.shape, tensor.dtype

    return spec


def _models(model):
    """`model`, then the models nested in it, outer ones first."""
    return [model] + [inner for layer in model.layers if is_model(layer)
                      for inner in _models(layer)]


def call_argument_names(model):
    """A function: layer name -> the names of its call's parameters after the first (Keras 2
    names a call's other positional arguments by them), for the layers of `model` and of the
    models nested in it."""
    layers = {layer.name: layer for owner in _models(model) for layer in owner.layers}

    def names(layer_name):
        parameters = inspect.signature(layers[layer_name].call).parameters.values()
        return [p.name for p in parameters
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]

    return names


# ---------------------------------------------------------------------------- config -> model


def model_from_config(canonical, custom_objects=None):
    """A new model (weights freshly initialised) from a canonical config."""
    from engine.models import Functional, Sequential

    classes = _classes(custom_objects)
    config = canonical["config"]
    if canonical["class_name"] == "Sequential":
        model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(_layer(entry, classes, custom_objects))
        return model
    return functional_from_config(Functional, config,
                                  lambda entry: _layer(entry, classes, custom_objects))


def _classes(custom_objects):
    from engine.layers import layer_classes

    return {**layer_classes(), **(custom_objects or {})}


def _layer(entry, classes, custom_objects):
    class_name = entry["class_name"]
    if class_name in ("Sequential", "Functional"):
        return model_from_config(entry, custom_objects)
    if entry.get("module") == config_normalize.OPERATIONS_MODULE:
        from engine.layers.symbolic_ops import OPERATIONS

        classes = OPERATIONS
    cls = classes.get(class_name)
    name = entry["config"].get("name", "?")
    if cls is None:
        raise UnknownLayerError(f"Unknown layer class '{class_name}' (layer '{name}'). Pass "
                                f"custom_objects={{'{class_name}': YourClass}} to load it.")
    config = _accepted_config(cls, entry["config"], name)
    for key, value in config.items():  # a Lambda's function, named in the file
        if isinstance(value, dict) and value.get("class_name") in ("function", "__lambda__"):
            config[key] = _function(value, name, custom_objects)
    # a wrapper's layers, an RNN's cells are read as layers of the model are
    config_normalize.map_nested_layers(config, lambda key, entry: _layer(
        entry, classes, custom_objects) if isinstance(entry, dict) else entry)
    return cls.from_config(config)


def _function(entry, layer_name, custom_objects):
    """The function a config names (Keras writes {"class_name": "function", "config":
    name}), from custom_objects; a lambda's bytecode is refused: loading runs no code from
    the file (Keras's safe mode)."""
    if entry["class_name"] == "__lambda__":
        raise UnknownLayerError(f"Layer '{layer_name}' holds a Python lambda as bytecode; "
                                f"loading it would run code from the file. Define the "
                                f"function by name and pass it in custom_objects")
    function = (custom_objects or {}).get(entry.get("config"))
    if not callable(function):
        raise UnknownLayerError(f"Layer '{layer_name}' calls function '{entry.get('config')}':"
                                f" pass custom_objects={{'{entry.get('config')}': "
                                f"function}} to load it")
    return function


def _accepted_config(cls, config, layer_name):
    """The config keys `cls` takes; drop hints and unknown keys whose value means "off",
    and refuse other unknown keys (a feature we would silently ignore)."""
    accepted = _init_parameters(cls)
    if accepted is None:
        return dict(config)
    result = {}
    for key, value in config.items():
        if key in accepted:
            result[key] = value
        elif key in _HINTS or (key in _DEFAULTS and value is _DEFAULTS[key]):
            continue
        elif not any(value == off and type(value) is type(off) for off in _OFF):
            raise ValueError(f"Layer '{layer_name}' ({cls.__name__}) has config "
                             f"{key}={value!r}, which this engine does not support")
    return result


def _init_parameters(cls):
    """Named __init__ parameters along the class's MRO (None when one takes **kwargs and
    does not forward them to our Layer's, e.g. a custom layer)."""
    from engine.layers import Layer

    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters
        names.update(name for name, p in parameters.items()
                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name != "self")
        if klass is Layer or not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            return names
    return None


# ---------------------------------------------------------------------------- weights by name


def short_name(layer, variable):
    """'kernel' for variable 'dense/kernel' of layer 'dense'. A TimeDistributed layer names
    its inner layer's weights as its own (Keras 2 and TF.js build that layer in its scope);
    a Bidirectional layer's are 'forward_lstm/kernel'..."""
    if type(layer).__name__ == "TimeDistributed":
        return short_name(layer.layer, variable)
    prefix = layer.name + "/"
    return variable.name[len(prefix):] if variable.name.startswith(prefix) else variable.name


def is_model(layer):
    """Whether `layer` is a Sequential or functional model (used as a layer, it is nested)."""
    from engine.models import Functional, Sequential

    return isinstance(layer, (Sequential, Functional))


def weight_layers(model):
    """The model's layers in order, with nested models' layers in place of the model."""
    result = []
    for layer in model.layers:
        result.extend(weight_layers(layer) if is_model(layer) else [layer])
    return result


def relative_weight_names(layer):
    """{id(variable): "<layer>/<weight>"} for a layer, "<model>/<layer>/<weight>" through
    nested models (the names Keras gives a nested model's weights in .h5 files)."""
    if not is_model(layer):
        return {id(variable): f"{layer.name}/{short_name(layer, variable)}"
                for variable in layer.weights}
    return {key: f"{layer.name}/{name}" for sub_layer in layer.layers
            for key, name in relative_weight_names(sub_layer).items()}
