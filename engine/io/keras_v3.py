"""Keras 3's native format: a .keras zip (or the same files in a folder) holding config.json,
metadata.json and model.weights.h5 in Keras's layout: layers/<snake_class>[_n]/vars/<i>
(recurrent layers: .../cell/vars/<i>; a nested model's layers: layers/sequential/layers/...;
wrapped layers: layers/bidirectional/forward_layer/cell/vars/<i>, layers/time_distributed/layer;
stacked cells: layers/rnn/cell/cells/<snake_class>[_n]/vars/<i>;
MultiHeadAttention: layers/multi_head_attention/query_dense/vars/<i>, key_dense, value_dense,
output_dense) and optimizer/vars/<i>. A subclassed model's weights lie by attribute path, as
Keras walks its attributes: <attribute>/vars/<i>, a list's layers at
<attribute>/<snake_class>[_n]/vars/<i>, a user's layer's at <attribute>/<its attribute>/...,
model.layers not reached before at layers/<snake_class>[_n]/vars/<i>."""
import datetime
import io
import json
import os
import zipfile

import numpy as np

import engine
from engine.io import compile_config, config_normalize, safety, serialize, subclassed, weights
from engine.io.hdf5 import h5py
from engine.io.safety import ModelFileError
from engine.layers.base import Layer, to_snake_case
from engine.layers.recurrent import RNN
from engine.layers.rnn_cells import StackedRNNCells

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_WRAPPED = {"TimeDistributed": ("layer",), "Bidirectional": ("forward_layer", "backward_layer")}
# Keras's MultiHeadAttention sub-layers: (attribute, their name), then the weights' short names.
_ATTENTION_PARTS = (("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
                    ("output_dense", "attention_output"), ("_dropout_layer", "dropout"),
                    ("_softmax", "softmax"))
_MAX_MEMBER_BYTES = 2 * 1024 ** 3
_MAX_RATIO = 1000


# ---------------------------------------------------------------------------- writing


def save(model, path, include_optimizer=True):
    """Write a .keras zip (or, for a path without .keras, a folder of the same files)."""
    members = {CONFIG: _config_json(model, include_optimizer),
               METADATA: json.dumps({"keras_version": f"engine {engine.__version__}",
                                     "date_saved": datetime.datetime.now().strftime(
                                         "%Y-%m-%d@%H:%M:%S")}).encode(),
               WEIGHTS: weights_h5(model, include_optimizer)}
    if path.endswith(".keras"):
        with safety.atomic_file(path) as temporary:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
        return
    with safety.atomic_directory(path, lambda name: name in members) as temporary:
        for name, data in members.items():
            with open(os.path.join(temporary, name), "wb") as handle:
                handle.write(data)


def keras_config(model):
    """The architecture as Keras 3 writes it (what model.to_json() holds)."""
    if subclassed.is_subclassed(model):
        return subclassed.keras_config(model)
    return config_normalize.to_keras3(serialize.model_config(model),
                                      serialize.tensor_spec(model))


def model_from_keras_config(config, custom_objects=None):
    """A new model (fresh weights) from a Keras 3, Keras 2 or TF.js architecture config."""
    if subclassed.is_subclassed_config(config):
        return subclassed.model_from_config(config, custom_objects)
    return serialize.model_from_config(config_normalize.normalize(config), custom_objects)


def _config_json(model, include_optimizer):
    config = keras_config(model)
    training = compile_config.compile_config(model) if include_optimizer else None
    if training is not None:
        config["compile_config"] = training
    return json.dumps(config).encode()


def model_h5_paths(model):
    """[(vars group path, its name attribute, the variables stored there)] of a whole model:
    a Sequential or functional model's own (empty) "vars" then its layers', a subclassed
    model's by attribute path."""
    if serialize.is_model(model):
        return [("vars", model.name, [])] + _h5_paths(model)
    return _attribute_paths(model, "", set())


def _attribute_paths(layer, path, visited):
    """A user's layer or model as Keras 3 walks it: its own variables at <path>/vars, then its
    attributes holding layers in sorted order (private ones last; a model's `layers` among
    them), each at <path>/<attribute>. A layer reached before is skipped."""
    visited.add(id(layer))
    entries = [(_join(path, "vars"), layer.name,
                layer._trainable_variables + layer._non_trainable_variables)]
    children = {name: value for name, value in vars(layer).items()
                if name != "_layers" and not name.startswith("__") and _holds_layers(value)}
    if isinstance(layer, engine.Model):
        children["layers"] = layer.layers
    for name in sorted(children, key=lambda name: "~" + name if name[0] == "_" else name):
        entries.extend(_child_paths(children[name], _join(path, name), visited))
    return entries


def _child_paths(value, path, visited):
    """A layer's vars groups at `path`, or a list's (tuple's, dict's values') at
    <path>/<snake_class>[_n] (a nested list: <path>/container[_n]), counting in each name the
    items reached before too, as Keras does."""
    if isinstance(value, Layer):
        if id(value) in visited:
            return []
        if _is_users_class(value):
            return _attribute_paths(value, path, visited)
        visited.add(id(value))
        return _layer_paths(value, path)
    counts, entries = {}, []
    for item in value.values() if isinstance(value, dict) else value:
        if not _holds_layers(item):
            continue
        base = to_snake_case(type(item).__name__) if isinstance(item, Layer) else "container"
        counts[base] = counts.get(base, -1) + 1
        name = base + (f"_{counts[base]}" if counts[base] else "")
        entries.extend(_child_paths(item, f"{path}/{name}", visited))
    return entries


def _holds_layers(value):
    if isinstance(value, Layer):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(_holds_layers(item) for item in value)


def _is_users_class(layer):
    """Whether `layer` is of a class the user wrote (not an engine layer, not a Sequential or
    functional model): Keras walks its attributes."""
    from engine.layers import layer_classes

    return (layer_classes().get(type(layer).__name__) is not type(layer)
            and not serialize.is_model(layer))


def _join(path, name):
    return f"{path}/{name}" if path else name


def _h5_paths(model, prefix="layers"):
    """[(vars group path, its name attribute, the variables stored there)] in Keras's walk
    order over model.layers (which, as in Keras, holds a functional model's InputLayers but not
    a Sequential's), each layer at "layers/<snake_class>[_n]". A nested model owns no weights:
    its layers follow it, under "<its path>/layers/"."""
    return [entry for layer, path in _numbered(model.layers, prefix)
            for entry in _layer_paths(layer, path)]


def _numbered(layers, prefix):
    """[(layer, "<prefix>/<snake_class>[_n]")], n counting the earlier layers of its class."""
    counts, result = {}, []
    for layer in layers:
        base = to_snake_case(type(layer).__name__)
        count = counts.get(base, 0)
        counts[base] = count + 1
        result.append((layer, f"{prefix}/{base}" + (f"_{count}" if count else "")))
    return result


def _layer_paths(layer, path):
    """A layer's vars groups under `path`: a recurrent layer's weights in its cell's
    (<path>/cell/vars; stacked cells' in <path>/cell/cells/<snake_class>[_n]/vars), a
    wrapper's in its wrapped layers' (<path>/<attribute>/...)."""
    class_name = type(layer).__name__
    if serialize.is_model(layer):
        return [(f"{path}/vars", layer.name, [])] + _h5_paths(layer, f"{path}/layers")
    if isinstance(layer, RNN):
        return [(f"{path}/vars", layer.name, [])] + _layer_paths(layer.cell, f"{path}/cell")
    if isinstance(layer, StackedRNNCells):
        return [(f"{path}/vars", layer.name, [])] + [
            entry for cell, cell_path in _numbered(layer.cells, f"{path}/cells")
            for entry in _layer_paths(cell, cell_path)]
    if class_name in _WRAPPED:
        return [(f"{path}/vars", layer.name, [])] + [
            entry for attribute in _WRAPPED[class_name]
            for entry in _layer_paths(getattr(layer, attribute), f"{path}/{attribute}")]
    if class_name == "MultiHeadAttention":
        short = {serialize.short_name(layer, v): v for v in layer.weights}
        return [(f"{path}/vars", layer.name, [])] + [
            (f"{path}/{attribute}/vars", name,
             [short[key] for key in (f"{name}/kernel", f"{name}/bias") if key in short])
            for attribute, name in _ATTENTION_PARTS]
    if _is_users_class(layer):
        return _attribute_paths(layer, path, set())
    return [(f"{path}/vars", layer.name, list(layer.weights))]


def weights_h5(model, include_optimizer=True):
    """The bytes of model.weights.h5."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as store:
        for path, name, variables in model_h5_paths(model):
            group = store.create_group(path)
            group.attrs["name"] = name
            for index, variable in enumerate(variables):
                group.create_dataset(str(index), data=weights.to_numpy(variable))
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None:
            group = store.create_group("optimizer/vars")
            group.attrs["name"] = optimizer.name
            for index, variable in enumerate(weights.optimizer_variables(model)):
                group.create_dataset(str(index), data=weights.to_numpy(variable))
    return buffer.getvalue()


# ---------------------------------------------------------------------------- reading


def read_members(path):
    """{member: bytes} of config.json, metadata.json and model.weights.h5 from a .keras zip or
    a folder, refusing zip bombs and missing members."""
    if os.path.isdir(path):
        return {name: safety.read_file(os.path.join(path, name), path)
                for name in (CONFIG, WEIGHTS)}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for name in (CONFIG, WEIGHTS):
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise ModelFileError(path, f"the archive has no {name}") from None
                if info.file_size > _MAX_MEMBER_BYTES or (
                        info.compress_size and info.file_size / info.compress_size > _MAX_RATIO):
                    raise ModelFileError(path, f"{name} is suspiciously large (zip bomb?)")
                members[name] = archive.read(info)
            return members
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(path, f"not a readable .keras zip archive ({error})") from None


def load(path, custom_objects=None, compile=True):
    """A model from a .keras file or folder."""
    members = read_members(path)
    config = safety.parse_json(members[CONFIG], f"{path}/{CONFIG}")
    if subclassed.is_subclassed_config(config):
        model = subclassed.model_from_config(config, custom_objects)
    else:
        try:
            canonical = config_normalize.normalize(config, style=config_normalize.KERAS3)
        except ValueError as error:
            raise ModelFileError(path, str(error)) from None
        model = serialize.model_from_config(canonical, custom_objects)
    training = config.get("compile_config") if compile else None
    if training:
        compile_config.compile_from_config(model, training)
    load_weights_h5(model, members[WEIGHTS], path, optimizer=bool(training))
    return model


def load_weights_h5(model, data, source, optimizer=True):
    """Read every array of a Keras 3 weights file, check them all, then assign them."""
    pairs = []
    try:
        with h5py.File(io.BytesIO(data), "r") as store:
            for path, _, variables in model_h5_paths(model):
                pairs.extend(zip(variables, _read_vars(store, path, len(variables), source)))
            saved = store.get("optimizer/vars")
            state = (_read_vars(store, "optimizer/vars", len(saved), source)
                     if optimizer and saved is not None and model.optimizer is not None else None)
    except OSError as error:
        raise ModelFileError(source, f"{WEIGHTS} is not a readable HDF5 file ({error})") from None
    weights.assign(pairs, source)
    if state:
        weights.restore_optimizer(model, state, source)


def _read_vars(store, path, count, source):
    group = store.get(path)
    if count and not isinstance(group, h5py.Group):
        raise ModelFileError(source, f"{WEIGHTS} has no group '{path}'")
    found = len(group) if group is not None else 0
    if found != count:
        raise ModelFileError(source, f"'{path}' holds {found} weights, the model expects {count}")
    return [safe_dataset(group, str(index), source) for index in range(count)]


def safe_dataset(group, name, source):
    """A numeric dataset's values (no object, string or external-link data)."""
    link = group.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise ModelFileError(source, f"'{group.name}/{name}' is a link, not a dataset")
    dataset = group[name]
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiub":
        raise ModelFileError(source, f"'{group.name}/{name}' is not a numeric dataset")
    return np.asarray(dataset[()])
