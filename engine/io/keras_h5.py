"""Legacy Keras HDF5 (.h5): root attrs model_config / training_config (JSON), the weights in
model_weights/<layer> listed by the layer_names and weight_names attributes, and
optimizer_weights. Read positionally, as Keras does, so Keras 2 and Keras 3 files both load."""
import json

import numpy as np

import engine
from engine.io import compile_config, config_normalize, safety, serialize, weights
from engine.io.hdf5 import h5py
from engine.io.keras_v3 import safe_dataset
from engine.io.safety import ModelFileError


def save(model, path, include_optimizer=True):
    """Write `path` atomically in the layout Keras 3's model.save("x.h5") uses."""
    config = config_normalize.to_keras3(serialize.model_config(model),
                                        serialize.tensor_spec(model))
    training = (compile_config.compile_config(model, loss_objects=True) if include_optimizer
                else None)
    with safety.atomic_file(path) as temporary, h5py.File(temporary, "w") as store:
        store.attrs["backend"] = "engine"
        store.attrs["keras_version"] = f"engine {engine.__version__}"
        store.attrs["model_config"] = json.dumps(config)
        _write_layers(store.create_group("model_weights"), model)
        if training is not None:
            optimizer_config = training.pop("optimizer")
            training["optimizer_config"] = {"class_name": optimizer_config["class_name"],
                                            "config": optimizer_config["config"]}
            store.attrs["training_config"] = json.dumps(training)
            _write_optimizer(store.create_group("optimizer_weights"), model)


def _write_layers(root, model):
    root.attrs["backend"] = "engine"
    root.attrs["keras_version"] = f"engine {engine.__version__}"
    layers = weights.layer_weights(model)
    root.attrs["layer_names"] = [layer.name.encode() for layer, _ in layers]
    for layer, variables in layers:
        group = root.create_group(layer.name)
        relative = serialize.relative_weight_names(layer)
        names = [f"{model.name}/{relative[id(v)]}" for v in variables]
        group.attrs["weight_names"] = [name.encode() for name in names]
        for name, variable in zip(names, variables):
            group.create_dataset(name, data=weights.to_numpy(variable))
    root.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], "S1")


def _write_optimizer(group, model):
    prefix = model.optimizer.name
    variables = weights.optimizer_variables(model)
    names = [f"{prefix}/{index}_{variable.name.replace('/', '_')}"
             for index, variable in enumerate(variables)]
    group.attrs["weight_names"] = [name.encode() for name in names]
    for name, variable in zip(names, variables):
        group.create_dataset(name, data=weights.to_numpy(variable))


def load(path, custom_objects=None, compile=True):
    """A model from a Keras 2 or Keras 3 .h5 file."""
    try:
        store = h5py.File(path, "r")
    except OSError as error:
        raise ModelFileError(path, f"not a readable HDF5 file ({error})") from None
    with store:
        if "model_config" not in store.attrs:
            raise ModelFileError(path, "no model_config attribute (a weights-only file?)")
        config = safety.parse_json(_text(store.attrs["model_config"]), path)
        version = _text(store.attrs.get("keras_version", "1"))
        style = (config_normalize.KERAS2 if version.split(".")[0] in ("1", "2")
                 else config_normalize.KERAS3)
        try:
            canonical = config_normalize.normalize(config, style=style)
        except ValueError as error:
            raise ModelFileError(path, str(error)) from None
        model = serialize.model_from_config(canonical, custom_objects)
        pairs = _read_layers(store, model, path)
        training = (safety.parse_json(_text(store.attrs["training_config"]), path)
                    if compile and "training_config" in store.attrs else None)
        state = (_read_list(store["optimizer_weights"], path)
                 if training and "optimizer_weights" in store else None)
    weights.assign(pairs, path)
    if training:
        compile_config.compile_from_config(model, training)
        if state:
            weights.restore_optimizer(model, state, path)
    return model


def _read_layers(store, model, source):
    root = store.get("model_weights", store)
    saved = [_text(name) for name in root.attrs.get("layer_names", [])]
    layers = weights.layer_weights(model)
    with_weights = [name for name in saved if len(root[name].attrs.get("weight_names", []))]
    expected = [(layer, variables) for layer, variables in layers if variables]
    if len(with_weights) != len(expected):
        raise ModelFileError(source, f"the file has weights for {len(with_weights)} layers "
                                     f"({with_weights}); the model has {len(expected)}")
    pairs = []
    for name, (layer, variables) in zip(with_weights, expected):
        arrays = _read_list(root[name], source)
        if len(arrays) != len(variables):
            raise ModelFileError(source, f"layer '{name}' has {len(arrays)} weights in the "
                                         f"file; layer '{layer.name}' expects "
                                         f"{len(variables)}")
        pairs.extend(zip(variables, arrays))
    return pairs


def _read_list(group, source):
    """The datasets named by a group's weight_names attribute, in order."""
    names = [_text(name) for name in group.attrs.get("weight_names", [])]
    for name in names:
        if name not in group:
            raise ModelFileError(source, f"'{group.name}' lists weight '{name}' but has no "
                                         f"such dataset")
    return [safe_dataset(group, name, source) for name in names]


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)
