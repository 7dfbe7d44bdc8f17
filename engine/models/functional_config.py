"""The one Functional model config, for get_config / from_config and every model file format:
layers with their inbound nodes (Keras 3 `__keras_tensor__` form written; Keras 2 list form
also read)."""
from engine.layers.keras_tensor import map_structure


def functional_config(model):
    """Keras 3's Functional config: layers, their inbound nodes, input and output layers."""
    own_nodes = nodes_in_model(model)

    def node_index(tensor):
        layer, index, _ = tensor.history
        return own_nodes[layer].index(layer._inbound_nodes[index])

    def tensor_config(tensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                           "keras_history": [tensor.history[0].name, node_index(tensor),
                                             tensor.history[2]]}}

    from engine.layers import serialize

    layers = []
    for layer in model.layers:
        entry = serialize(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [map_structure(tensor_config, node.inputs)],
             "kwargs": {k: v for k, v in node.call_kwargs.items() if k != "args"}}
            for node in own_nodes[layer] if node.inputs != []]
        layers.append(entry)

    def endpoint(tensor):
        return [tensor.history[0].name, node_index(tensor), tensor.history[2]]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": [endpoint(t) for t in model.inputs],
            "output_layers": [endpoint(t) for t in model.outputs]}


def nodes_in_model(model):
    """{layer: its calls that belong to `model`, in call order}. A node's index in `model`'s
    config is its position here (Keras 3 skips the layer's calls outside the model)."""
    own = {id(node) for nodes in model._nodes_by_depth.values() for node in nodes}
    return {layer: [node for node in layer._inbound_nodes if id(node) in own]
            for layer in model.layers}


def functional_from_config(cls, config, make_layer=None):
    """Rebuild the layers (`make_layer(entry)`, engine.layers.deserialize by default), replay
    each layer's calls in order once their inputs exist, and wire the model. Node indices
    count a layer's calls in this config, as functional_config writes them."""
    from engine.layers import InputLayer, deserialize

    outputs = {}  # (layer name, node index, tensor index) -> KerasTensor
    pending = []  # (layer, [(node index, argument keys, kwargs) of calls not yet replayed])
    for entry in config["layers"]:
        layer = (make_layer or deserialize)(entry)
        if isinstance(layer, InputLayer):
            outputs[(layer.name, 0, 0)] = layer.output
        pending.append((layer, [(position,) + _node_arguments(node) for position, node
                                in enumerate(entry.get("inbound_nodes") or [])]))
    while any(calls for _, calls in pending):
        replayed = False
        for layer, calls in pending:
            while calls and not _missing(calls[0][1], outputs):
                position, keys, kwargs = calls.pop(0)
                result = layer(_resolve(keys, outputs), **kwargs)
                for index, tensor in enumerate(result if isinstance(result, list) else [result]):
                    outputs[(layer.name, position, index)] = tensor
                replayed = True
        if not replayed:
            waiting = {layer.name: _missing(calls[0][1], outputs) for layer, calls in pending
                       if calls}
            raise ValueError(f"Cannot rebuild the model: these layers wait for (layer, node, "
                             f"tensor) outputs that nothing in the config produces: {waiting}")

    def endpoints(key):
        entries = [config[key]] if config[key] and isinstance(config[key][0], str) \
            else config[key]
        keys = [tuple(entry[:3]) for entry in entries]
        missing = _missing(keys, outputs)
        if missing:
            raise ValueError(f"Cannot rebuild the model: its {key} {missing} are never produced")
        return [outputs[k] for k in keys]

    inputs, model_outputs = endpoints("input_layers"), endpoints("output_layers")
    return cls(inputs if len(inputs) > 1 else inputs[0],
               model_outputs if len(model_outputs) > 1 else model_outputs[0],
               name=config.get("name"), trainable=config.get("trainable", True))


def _missing(keys, outputs):
    """The (layer, node, tensor) keys in `keys` (a key or nested lists of them) not produced."""
    if isinstance(keys, list):
        return [key for item in keys for key in _missing(item, outputs)]
    return [] if keys in outputs else [keys]


def _resolve(keys, outputs):
    """The symbolic tensors for (layer, node, tensor) keys, keeping the list structure."""
    if isinstance(keys, list):
        return [_resolve(key, outputs) for key in keys]
    return outputs[keys]


def _node_arguments(node):
    """(argument structure of (layer, node, tensor) keys, kwargs) from either config form."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = node["args"][0] if len(node["args"]) == 1 else node["args"]
        return _keys(args), dict(node.get("kwargs") or {})
    entries = [_keys(entry) for entry in node]  # Keras 2: [[name, node, tensor, kwargs], ...]
    kwargs = node[0][3] if node and len(node[0]) > 3 else {}
    return (entries[0] if len(entries) == 1 else entries), dict(kwargs or {})


def _keys(argument):
    if isinstance(argument, dict) and argument.get("class_name") == "__keras_tensor__":
        return tuple(argument["config"]["keras_history"])
    if isinstance(argument, list) and len(argument) >= 3 and isinstance(argument[0], str):
        return tuple(argument[:3])
    if isinstance(argument, list):
        return [_keys(item) for item in argument]
    raise ValueError(f"Unrecognized inbound node argument: {argument!r}")

