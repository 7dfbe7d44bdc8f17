"""The one Functional model config, for get_config / from_config and every model file format:
layers with their inbound nodes (Keras 3 `__keras_tensor__` form written; Keras 2 list form
also read)."""
import numpy as np

from engine.layers.keras_tensor import KerasTensor, map_structure


def functional_config(model):
    """Keras 3's Functional config: layers, their inbound nodes, input and output layers."""
    own_nodes = nodes_in_model(model)

    def node_index(tensor):
        layer, index, _ = tensor.history
        return own_nodes[layer].index(layer._inbound_nodes[index])

    def tensor_config(tensor):
        if not isinstance(tensor, KerasTensor):  # a call argument that is no tensor
            return _plain_value_config(tensor)
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
            {"args": map_structure(tensor_config, [node.inputs, *node.call_args]),
             "kwargs": map_structure(tensor_config, dict(node.call_kwargs))}
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
    pending = []  # (layer, [(node index, (first argument, args, kwargs) with (layer, node,
    #                         tensor) keys for tensors) of calls not yet replayed])
    for entry in config["layers"]:
        layer = (make_layer or deserialize)(entry)
        if isinstance(layer, InputLayer):
            outputs[(layer.name, 0, 0)] = layer.output
        pending.append((layer, [(position, _node_arguments(node)) for position, node
                                in enumerate(entry.get("inbound_nodes") or [])]))
    while any(calls for _, calls in pending):
        replayed = False
        for layer, calls in pending:
            while calls and not _missing(calls[0][1], outputs):
                position, arguments = calls.pop(0)
                first, args, kwargs = _resolve(arguments, outputs)
                result = layer(first, *args, **kwargs)
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


def _missing(arguments, outputs):
    """The (layer, node, tensor) keys (tuples) in a structure of call arguments not produced."""
    if isinstance(arguments, tuple):
        return [] if arguments in outputs else [arguments]
    if isinstance(arguments, list):
        return [key for item in arguments for key in _missing(item, outputs)]
    if isinstance(arguments, dict):
        return [key for item in arguments.values() for key in _missing(item, outputs)]
    return []


def _resolve(arguments, outputs):
    """The call arguments with each (layer, node, tensor) key replaced by its tensor."""
    if isinstance(arguments, tuple):
        return outputs[arguments]
    if isinstance(arguments, list):
        return [_resolve(item, outputs) for item in arguments]
    if isinstance(arguments, dict):
        return {key: _resolve(item, outputs) for key, item in arguments.items()}
    return arguments


def _node_arguments(node):
    """[first argument, [other positional arguments], {keyword arguments}] of a call, tensors
    as (layer, node, tensor) keys, from either config form: Keras 3's {"args", "kwargs"}, or
    Keras 2's [[name, node, tensor, kwargs], ...] (the first argument's tensors; tensors in
    kwargs as [name, node, tensor]; the other positional arguments, if any, under "args")."""
    if isinstance(node, dict):
        args = node["args"]
        kwargs = _keys(dict(node.get("kwargs") or {}), tensors_only=False)
        return [_keys(args[0]), [_keys(a, tensors_only=False) for a in args[1:]], kwargs]
    entries = [_keys(entry) for entry in node]
    kwargs = _keys(dict(node[0][3] if node and len(node[0]) > 3 else {}), tensors_only=False)
    return [entries[0] if len(entries) == 1 else entries, kwargs.pop("args", []), kwargs]


def _plain_value_config(value):
    """A call argument that is no tensor, as Keras 3 writes it: slices and Ellipsis (an
    indexing key) and NumPy arrays as __slice__ / __ellipsis__ / __numpy__ entries, other
    values as they are."""
    if isinstance(value, slice):
        return {"class_name": "__slice__",
                "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__",
                "config": {"value": value.tolist(), "dtype": value.dtype.name}}
    return {"class_name": "__ellipsis__", "config": {}} if value is Ellipsis else value


def _plain_value(entry):
    """The slice, Ellipsis or array a __slice__ / __ellipsis__ / __numpy__ entry stands for
    (else None)."""
    config = entry.get("config") or {}
    if entry.get("class_name") == "__slice__":
        return slice(config.get("start"), config.get("stop"), config.get("step"))
    if entry.get("class_name") == "__numpy__":
        return np.asarray(config.get("value"), dtype=config.get("dtype"))
    return Ellipsis if entry.get("class_name") == "__ellipsis__" else None


def _keys(argument, tensors_only=True):
    """`argument` with its tensor references as (layer, node, tensor) keys. With
    `tensors_only`, anything else is refused (a first argument holds only tensors)."""
    if isinstance(argument, dict) and argument.get("class_name") == "__keras_tensor__":
        return tuple(argument["config"]["keras_history"])
    if isinstance(argument, dict) and not tensors_only and _plain_value(argument) is not None:
        return _plain_value(argument)
    if is_tensor_reference(argument):
        return tuple(argument[:3])
    if isinstance(argument, list):
        return [_keys(item, tensors_only) for item in argument]
    if isinstance(argument, dict) and not tensors_only:
        return {key: _keys(item, tensors_only) for key, item in argument.items()}
    if tensors_only:
        raise ValueError(f"Unrecognized inbound node argument: {argument!r}")
    return argument


def is_tensor_reference(value):
    """Whether `value` is Keras 2's reference to a layer output: [name, node, tensor(, kwargs)]."""
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in value[1:3]))

