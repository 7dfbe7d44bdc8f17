"""The one place that maps Keras 2 / TF.js and Keras 3 model configs to and from ours.

Ours ("canonical") is Keras-2-shaped and free of Keras 3 extras:
  {"class_name": "Sequential" | "Functional", "config": {"name", "trainable", "layers": [...],
   "input_layers": [[name, node, tensor], ...], "output_layers": [...]}}   (last two: Functional)
with each layer {"class_name", "config", "name", "inbound_nodes": [[[name, node, tensor,
kwargs], ...], ...]} (the last two only in Functional models; each node lists its call's first
argument's tensors; tensors in kwargs are Keras 2's [name, node, tensor] references, and the
call's other positional arguments, in order, are kwargs["args"]), dtype strings, InputLayer's
`batch_shape`, and no module / registered_name / build_config / shared_object_id keys.

Where the two Keras generations give one name two meanings, the canonical config keeps the
meaning explicit: Keras 2 / TF.js "hard_sigmoid" (clip(0.2x + 0.5, 0, 1)) becomes
"legacy_hard_sigmoid"; Keras 3's (relu6(x + 3) / 6) stays "hard_sigmoid". A GRU config without
`reset_after` is Keras 1 / TF.js's reset_after=False in a Keras 2 file.

Node indices of a nested model differ too: Keras 2 and TF.js count the model's own first node
(its inputs to its outputs, made when it was built) among its nodes, so the first call of it
in the outer model is node 1 there; Keras 3 and ours count only the calls in the model (0),
except that Keras 3 counts that first node of a nested functional model in `output_layers`
(its writer starts the model's count at 1 there, and its reader subtracts 1 back).

Styles: KERAS2 (Keras 1/2 and TF.js files), KERAS3 (Keras 3 files), OURS (our get_config and
.engine files: Keras 3's shapes with our node numbering throughout).
"""
import copy

from engine.models.functional_config import is_tensor_reference

KERAS2, KERAS3, OURS = "keras2", "keras3", "engine"
OPERATIONS_MODULE = "keras.src.ops.numpy"  # operation nodes (x + y in a functional model)
LEGACY_HARD_SIGMOID = "legacy_hard_sigmoid"
_KERAS3_EXTRAS = ("module", "registered_name", "build_config", "compile_config",
                  "shared_object_id")
_ACTIVATION_KEYS = ("activation", "recurrent_activation")
_KERAS3_REFUSES = {"Conv2DTranspose": ("groups",)}  # keys Keras 3's constructor rejects
_MODEL_CLASSES = {"Model": "Functional", "Functional": "Functional", "Sequential": "Sequential"}
# Config keys holding nested layer entries: a wrapper's layers, an RNN's cell, and (a list)
# StackedRNNCells' cells.
WRAPPED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")


def detect_style(config):
    """KERAS3 if the config carries Keras 3 markers (module keys, DTypePolicy, batch_shape,
    dict-form inbound nodes), else KERAS2."""
    markers = []

    def walk(value):
        if isinstance(value, dict):
            if "module" in value or "batch_shape" in value or "args" in value:
                markers.append(True)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(config)
    return KERAS3 if markers else KERAS2


# ---------------------------------------------------------------------------- reading


def normalize(model_config, style=None):
    """The canonical config of a Keras 2, TF.js or Keras 3 model config (any wrapper)."""
    if not isinstance(model_config, dict):
        raise ValueError(f"A model config must be a JSON object, got {type(model_config).__name__}")
    if "model_config" in model_config:  # the TF.js converter's modelTopology wrapper
        model_config = model_config["model_config"]
    style = style or detect_style(model_config)
    class_name = _MODEL_CLASSES.get(model_config.get("class_name"))
    if class_name is None:
        raise ValueError(f"Unknown model class: '{model_config.get('class_name')}' (expected "
                         f"Sequential, Functional or Model)")
    config = model_config.get("config")
    if isinstance(config, list):  # Keras 1 / early Keras 2 Sequential: a bare layer list
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"The {class_name} config has no 'layers' list")
    functional = class_name == "Functional"
    result = {"name": config.get("name"), "trainable": config.get("trainable", True),
              "layers": [_normalize_layer(entry, style, functional)
                         for entry in config["layers"]]}
    if functional:
        result["input_layers"] = _tensor_list(config.get("input_layers"))
        result["output_layers"] = _tensor_list(config.get("output_layers"))
        if style == KERAS2:
            result = _shift_nested_nodes(result, -1)
        elif style == KERAS3:
            result["output_layers"] = _keras3_output_nodes(result, -1)
    return {"class_name": class_name, "config": result}


def _normalize_layer(entry, style, functional):
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"Each layer must be an object with a 'class_name', got {entry!r}")
    class_name = entry["class_name"]
    if class_name in _MODEL_CLASSES:
        nested = normalize(entry, style)
        layer = {"class_name": nested["class_name"], "config": nested["config"]}
    else:
        layer = {"class_name": class_name,
                 "config": _normalize_layer_config(class_name, entry.get("config") or {}, style)}
        if entry.get("module") == OPERATIONS_MODULE:
            layer["module"] = OPERATIONS_MODULE
    if functional:
        layer["name"] = entry.get("name", layer["config"].get("name"))
        layer["inbound_nodes"] = [_normalize_node(node)
                                  for node in entry.get("inbound_nodes") or []]
    return layer


def _normalize_layer_config(class_name, config, style):
    config = _strip(copy.deepcopy(config))
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
    for key, value in config.items():  # Keras 3.15 initializers add input_axes=None etc.
        if key.endswith("initializer") and isinstance(value, dict):
            value["config"] = {k: v for k, v in (value.get("config") or {}).items()
                               if v is not None}
    if class_name == "InputLayer":
        shape = config.pop("batch_input_shape", None)
        config.setdefault("batch_shape", shape)
    elif "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    if style == KERAS2:
        for key in _ACTIVATION_KEYS:
            if config.get(key) == "hard_sigmoid":
                config[key] = LEGACY_HARD_SIGMOID
        if class_name in ("GRU", "GRUCell"):
            config.setdefault("reset_after", False)
    if class_name == "RNN" and isinstance(config.get("cell"), dict):
        for key in config["cell"].get("config") or {}:  # TF.js repeats the cell's keys
            if key not in ("name", "trainable", "dtype"):
                config.pop(key, None)
    return _map_wrapped(config, lambda name, inner: _normalize_layer_config(name, inner, style))


def _map_wrapped(config, convert):
    """`config` with each nested layer's entry (TimeDistributed's and Bidirectional's `layer`,
    Bidirectional's `backward_layer`, an RNN's `cell`, StackedRNNCells' `cells`) as
    {"class_name", "config": convert(class name, its config)}."""
    def converted(key, entry):
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise ValueError(f"Layer '{config.get('name')}': '{key}' must hold layer entries "
                             f"with a 'class_name', got {entry!r}")
        return {"class_name": entry["class_name"],
                "config": convert(entry["class_name"], entry.get("config") or {})}

    return map_nested_layers(config, converted)


def map_nested_layers(config, convert):
    """`config` with each nested layer entry (see WRAPPED_LAYER_KEYS) replaced by
    convert(key, entry)."""
    for key in WRAPPED_LAYER_KEYS:
        value = config.get(key)
        if key == "cells" and isinstance(value, list):
            config[key] = [convert(key, entry) for entry in value]
        elif value is not None:
            config[key] = convert(key, value)
    return config


def nested_layer_entries(config):
    """The layer entries a layer config nests (see WRAPPED_LAYER_KEYS)."""
    entries = []
    map_nested_layers(dict(config), lambda key, entry: entries.append(entry))
    return [entry for entry in entries if isinstance(entry, dict)]


def _strip(value):
    """Drop Keras 3's module / registered_name / build_config keys at every depth."""
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if key not in _KERAS3_EXTRAS}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _normalize_node(node):
    """Keras 2 [[name, node, tensor, kwargs], ...] or Keras 3 {"args", "kwargs"} -> the former."""
    if isinstance(node, list):
        return [[entry[0], int(entry[1]), int(entry[2]),
                 _call_kwargs(entry[3] if len(entry) > 3 else {})] for entry in node]
    if not isinstance(node, dict):
        raise ValueError(f"Malformed inbound node: {node!r}")
    kwargs = _map_references(_call_kwargs(node.get("kwargs")), _reference)
    first, *others = node.get("args") or [None]
    if isinstance(first, (int, float)) and others:  # Keras 3's 1 - x: Subtract(1, x)
        first, others = others[0], [first, *others[1:]]
        kwargs["reflected"] = True  # (symbolic_ops: the tensor first, the order kept)
    tensors = _keras_tensors(first) if first is not None else []
    if not tensors:
        raise ValueError(f"Inbound node without input tensors: {node!r}")
    if others:
        kwargs["args"] = _map_references(others, _reference)
    return [[name, index, tensor, kwargs] for name, index, tensor in tensors]


def _reference(keras_tensor):
    """Keras 2's [name, node, tensor] for a Keras 3 __keras_tensor__ entry."""
    name, index, tensor = keras_tensor["config"]["keras_history"]
    return [name, int(index), int(tensor)]


def _map_references(value, convert):
    """`value` with each tensor reference in it (a Keras 3 __keras_tensor__ entry or a
    Keras 2 [name, node, tensor]) replaced by convert(it)."""
    if (isinstance(value, dict) and value.get("class_name") == "__keras_tensor__") or \
            is_tensor_reference(value):
        return convert(value)
    if isinstance(value, list):
        return [_map_references(item, convert) for item in value]
    if isinstance(value, dict):
        return {key: _map_references(item, convert) for key, item in value.items()}
    return value


def _call_kwargs(kwargs):
    """A node's call kwargs without Keras's `mask=None` (written for calls of nested models)."""
    return {key: value for key, value in (kwargs or {}).items()
            if not (key == "mask" and value is None)}


def _keras_tensors(argument):
    """The (name, node, tensor) entries of a call argument, in engine.layers flatten's order."""
    if isinstance(argument, (list, tuple)):
        return [t for item in argument for t in _keras_tensors(item)]
    if isinstance(argument, dict) and argument.get("class_name") == "__keras_tensor__":
        name, index, tensor = argument["config"]["keras_history"]
        return [(name, int(index), int(tensor))]
    raise ValueError(f"Unsupported inbound node argument: {argument!r}")


def _shift_nested_nodes(config, step):
    """A copy of a canonical functional config with `step` added to every node index naming a
    nested model that has its own first node (a functional model, or a Sequential with an
    input shape): -1 reads Keras 2 / TF.js numbering, +1 writes it."""
    nested = {layer["name"] for layer in config["layers"] if _has_own_node(layer)}

    def shifted(entry):
        if entry[0] not in nested:
            return entry
        if entry[1] + step < 0:
            raise ValueError(f"Node {entry[1]} of nested model '{entry[0]}' is its own "
                             f"inputs-to-outputs node, not a call of it in the model")
        return [entry[0], entry[1] + step, *entry[2:]]

    def shifted_entry(entry):
        return shifted(entry[:3]) + [_map_references(entry[3], shifted)] if len(entry) > 3 \
            else shifted(entry)

    layers = [{**layer, "inbound_nodes": [[shifted_entry(entry) for entry in node]
                                          for node in layer["inbound_nodes"]]}
              for layer in config["layers"]]
    return {**config, "layers": layers,
            "output_layers": [shifted(entry) for entry in config["output_layers"]]}


def _keras3_output_nodes(config, step):
    """`output_layers` with `step` added to the node index of each nested functional model: -1
    reads Keras 3's numbering, +1 writes it. Read as Keras 3 reads it, a node 0 there (as older
    versions of this engine wrote) is the model's last call in the outer model."""
    calls = {layer["name"]: len(layer["inbound_nodes"]) for layer in config["layers"]
             if layer["class_name"] == "Functional"}

    def shifted(entry):
        if entry[0] not in calls:
            return entry
        node = entry[1] + step
        return [entry[0], node if node >= 0 else calls[entry[0]] - 1, *entry[2:]]

    return [shifted(entry) for entry in config["output_layers"]]


def _has_own_node(layer):
    if layer["class_name"] == "Functional":
        return True
    if layer["class_name"] != "Sequential" or not layer["config"]["layers"]:
        return False
    first = layer["config"]["layers"][0]
    return first["class_name"] == "InputLayer" or "batch_input_shape" in first["config"]


def _tensor_list(value):
    """[[name, node, tensor], ...] from that, Keras 3's flattened single ["x", 0, 0], or Keras
    3's nested lists (an RNN's stacked cells' states, one list per cell), flattened."""
    if not value:
        return []
    if isinstance(value[0], str):
        return [[value[0], int(value[1]), int(value[2])]]
    return [entry for item in value for entry in _tensor_list(item)]


# ---------------------------------------------------------------------------- writing


def to_keras2(canonical, argument_names=None):
    """The Keras-2-style config TF.js and Keras 2 parse (batch_input_shape, list-form nodes,
    layer names beside configs). Raises for Keras 3 meanings Keras 2 cannot express. As in
    Keras 2, a call's other positional arguments become kwargs named by
    `argument_names(layer name)` (the names of the layer's call parameters after the first)."""
    class_name, config = canonical["class_name"], canonical["config"]
    functional = class_name == "Functional"
    if functional:
        config = _shift_nested_nodes(config, 1)
    layers = []
    for layer in config["layers"]:
        if layer.get("module") == OPERATIONS_MODULE:
            raise ValueError(f"Layer '{layer['name']}': TF.js (and Keras 2) files cannot hold "
                             f"an operation on tensors ({layer['class_name']}, from an "
                             f"operator such as + or [...]); use a layer (layers.Add, ...) or "
                             f"save as .keras")
        if layer["class_name"] in _MODEL_CLASSES:
            entry = to_keras2(layer, argument_names)
        else:
            entry = {"class_name": layer["class_name"],
                     "config": _keras2_layer_config(layer["class_name"], layer["config"])}
        if functional:
            entry["name"] = layer["name"]
            entry["inbound_nodes"] = [_keras2_node(layer["name"], node, argument_names)
                                      for node in layer["inbound_nodes"]]
        layers.append(entry)
    result = {"name": config["name"], "layers": layers}
    if functional:
        result["input_layers"] = config["input_layers"]
        result["output_layers"] = config["output_layers"]
    return {"class_name": "Model" if functional else class_name, "config": result}


def _keras2_node(layer_name, node, argument_names):
    """A canonical node with its other positional arguments named, as Keras 2 writes them."""
    kwargs = node[0][3] if node and len(node[0]) > 3 else {}
    if "args" not in kwargs:
        return node
    names = argument_names(layer_name) if argument_names else []
    if len(names) < len(kwargs["args"]):
        raise ValueError(f"Layer '{layer_name}' is called with {len(kwargs['args']) + 1} "
                         f"positional arguments; Keras 2 and TF.js configs can name only "
                         f"{len(names) + 1} for it (its call's parameters)")
    kwargs = {**dict(zip(names, kwargs["args"])),
              **{key: value for key, value in kwargs.items() if key != "args"}}
    return [entry[:3] + [kwargs] for entry in node]


def _keras2_layer_config(class_name, config):
    config = copy.deepcopy(config)
    for key in _ACTIVATION_KEYS:
        if config.get(key) == "hard_sigmoid":
            raise ValueError(f"Layer '{config.get('name')}' uses Keras 3's hard_sigmoid "
                             f"(relu6(x + 3) / 6), which Keras 2 and TF.js cannot express "
                             f"(their hard_sigmoid is clip(0.2x + 0.5, 0, 1))")
        if config.get(key) == LEGACY_HARD_SIGMOID:
            config[key] = "hard_sigmoid"
    if class_name == "InputLayer":
        config["batch_input_shape"] = config.pop("batch_shape")
    if class_name == "LeakyReLU":  # Keras 3's negative_slope is Keras 2's and TF.js's alpha
        config["alpha"] = config.pop("negative_slope")
    if class_name == "ELU" and config.get("alpha", 1.0) != 1.0:
        raise ValueError(f"Layer '{config.get('name')}': TF.js's ELU supports only alpha=1.0, "
                         f"got {config['alpha']}")
    if class_name == "ReLU" and (config.get("negative_slope") or config.get("threshold")):
        raise ValueError(f"Layer '{config.get('name')}': TF.js's ReLU has only max_value; "
                         f"negative_slope={config.get('negative_slope')} and threshold="
                         f"{config.get('threshold')} cannot be saved for it")
    if class_name == "Bidirectional":
        config = _keras2_bidirectional(config)
    return _map_wrapped(config, _keras2_layer_config)


def _keras2_bidirectional(config):
    """Keras 2 and TF.js name the wrapped layer without its forward_ prefix (they add it) and
    always make the backward layer themselves: one that is not that mirror is refused."""
    forward, backward = config["layer"], config.pop("backward_layer", None)
    inner = forward["config"]
    base = inner["name"][len("forward_"):] if inner["name"].startswith("forward_") \
        else inner["name"]
    mirror = {**forward, "config": {**inner, "name": "backward_" + base,
                                    "go_backwards": not inner.get("go_backwards", False)}}
    if backward is not None and backward != mirror:
        raise ValueError(f"Layer '{config.get('name')}': Keras 2 and TF.js cannot express a "
                         f"Bidirectional backward_layer other than the mirror of its layer")
    config["layer"] = {**forward, "config": {**inner, "name": base}}
    return config


def to_keras3(canonical, tensor_spec):
    """The config Keras 3 writes into .keras files. `tensor_spec((name, node, tensor))` gives
    the (shape, dtype) of a layer output, for Keras 3's __keras_tensor__ entries."""
    class_name, config = canonical["class_name"], canonical["config"]
    functional = class_name == "Functional"
    layers = []
    for layer in config["layers"]:
        if layer["class_name"] in _MODEL_CLASSES:
            entry = to_keras3(layer, tensor_spec)
        elif layer.get("module") == OPERATIONS_MODULE:  # Keras registers its operations
            entry = {"module": OPERATIONS_MODULE, "class_name": layer["class_name"],
                     "config": dict(layer["config"]), "registered_name": layer["class_name"]}
        else:
            entry = {"module": "keras.layers", "class_name": layer["class_name"],
                     "config": _keras3_layer_config(layer["class_name"], layer["config"]),
                     "registered_name": _registered_name(layer["class_name"])}
        if functional:
            entry["name"] = layer["name"]
            entry["inbound_nodes"] = [_keras3_node(node, tensor_spec)
                                      for node in layer["inbound_nodes"]]
        layers.append(entry)
    result = {"name": config["name"], "trainable": config.get("trainable", True),
              "layers": layers}
    if functional:  # Keras 3 flattens a single input or output to ["x", 0, 0]
        ends = {"input_layers": config["input_layers"],
                "output_layers": _keras3_output_nodes(config, 1)}
        for key, value in ends.items():
            result[key] = value[0] if len(value) == 1 else value
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": result, "registered_name": "Functional"}
    return {"module": "keras", "class_name": "Sequential", "config": result,
            "registered_name": None}


def _registered_name(class_name):
    """None for Keras's own layers; a custom layer's class name, under which Keras finds it in
    load_model's custom_objects."""
    from engine.layers import layer_classes

    return None if class_name in layer_classes() else class_name


def _keras3_layer_config(class_name, config):
    config = copy.deepcopy(config)
    for key in _KERAS3_REFUSES.get(class_name, ()):
        config.pop(key, None)
    for key in _ACTIVATION_KEYS:
        if config.get(key) == LEGACY_HARD_SIGMOID:
            raise ValueError(f"Layer '{config.get('name')}' uses Keras 2 / TF.js hard_sigmoid "
                             f"(clip(0.2x + 0.5, 0, 1)), which Keras 3 cannot express (its "
                             f"hard_sigmoid is relu6(x + 3) / 6)")
    if isinstance(config.get("dtype"), str):
        config["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                           "config": {"name": config["dtype"]}, "registered_name": None}
    if "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    for key, value in config.items():
        if key not in WRAPPED_LAYER_KEYS and isinstance(value, dict) and "class_name" in value \
                and key != "dtype":
            config[key] = {"module": _object_module(key), **value, "registered_name": None}
    return map_nested_layers(config, lambda key, value: {
        "module": "keras.layers", "class_name": value["class_name"],
        "config": _keras3_layer_config(value["class_name"], value["config"]),
        "registered_name": _registered_name(value["class_name"])})


def _object_module(key):
    if key.endswith("initializer"):
        return "keras.initializers"
    if key.endswith("regularizer"):
        return "keras.regularizers"
    return "keras.constraints" if key.endswith("constraint") else "keras"


def _keras3_node(node, tensor_spec):
    def keras_tensor(entry):
        history = [entry[0], entry[1], entry[2]]
        shape, dtype = tensor_spec(tuple(history))
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(shape), "dtype": dtype, "keras_history": history}}

    tensors = [keras_tensor(entry) for entry in node]
    kwargs = _map_references(dict(node[0][3]) if node else {}, keras_tensor)
    args = [tensors if len(tensors) > 1 else tensors[0], *kwargs.pop("args", [])]
    if kwargs.pop("reflected", False):  # an operation on (constant, tensor), as written
        args[:2] = args[1::-1]
    return {"args": args, "kwargs": kwargs}


def layer_config_to_keras3(class_name, config):
    """One layer's (or a subclassed model's) config as Keras 3 writes it."""
    return _keras3_layer_config(class_name, config)


def layer_config_from_keras3(class_name, config):
    """One layer's (or a subclassed model's) Keras 3 config in our shape (dtype strings...)."""
    return _normalize_layer_config(class_name, config, KERAS3)
