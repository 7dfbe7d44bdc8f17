"""The TF.js Layers format: model.json (Keras-2-style topology + weights manifest, and with the
optimizer a trainingConfig) and the little-endian weight stream (model weights, then optimizer
weights: see tfjs_training) cut into group1-shardKofN.bin files of at most 4 MiB."""
import json
import os
import re
import urllib.parse
import urllib.request

import numpy as np

import engine
from engine.io import config_normalize, safety, serialize, tfjs_training, weights
from engine.io.safety import ModelFileError

SHARD_BYTES = 4 * 1024 * 1024
_DTYPES = {"float32": "<f4", "int32": "<i4", "bool": "|b1"}
_QUANTIZED = {"uint8": "<u1", "uint16": "<u2", "float16": "<f2"}
_SHARD_NAME = re.compile(r"group\d+-shard\d+of\d+\.bin")
_MAX_JSON_BYTES = 64 * 1024 * 1024
# (TF.js's "Identity" is an initializer: its loader would build that in place of the layer.)
_NOT_IN_TFJS = {"Subtract", "Normalization", "SpatialDropout2D", "ZeroPadding1D", "Cropping1D",
                "UpSampling1D", "GroupNormalization", "UnitNormalization", "Identity",
                "MultiHeadAttention", "Attention", "EinsumDense", "Lambda"}
# TF.js has no augmentation layers but RandomWidth; its Resizing and CenterCrop (4.22) fail to
# run or resample unlike Keras (corner-aligned bilinear, an off-centre crop window).
_NOT_IN_TFJS |= {"RandomCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                 "RandomContrast", "RandomBrightness"}
_NOT_IN_TFJS |= {"Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D"}
_NOT_IN_TFJS |= {"Discretization", "IntegerLookup"}
_UNLIKE_IN_TFJS = {"Resizing", "CenterCrop"}


# ---------------------------------------------------------------------------- weight stream


def encode_weights(named_arrays):
    """(weight specs, bytes) for [(name, array)]: float64 -> float32, int64 -> int32."""
    specs, chunks = [], []
    for name, array in named_arrays:
        array = np.asarray(array)
        dtype = ("bool" if array.dtype == np.bool_ else
                 "int32" if np.issubdtype(array.dtype, np.integer) else "float32")
        specs.append({"name": name, "shape": list(array.shape), "dtype": dtype})
        chunks.append(np.ascontiguousarray(array, dtype=_DTYPES[dtype]).tobytes())
    return specs, b"".join(chunks)


def spec_layout(spec, source):
    """(stored numpy dtype, element count) of a weight spec, validated."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ModelFileError(source, f"malformed weight spec {spec!r}")
    shape, dtype = spec.get("shape"), spec.get("dtype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                              and d >= 0 for d in shape):
        raise ModelFileError(source, f"weight '{spec['name']}' has invalid shape {shape!r}")
    if dtype not in _DTYPES:
        raise ModelFileError(source, f"weight '{spec['name']}' has unsupported dtype "
                                     f"{dtype!r} (expected one of {sorted(_DTYPES)})")
    stored = _DTYPES[dtype]
    quantization = spec.get("quantization")
    if quantization is not None:
        kind = quantization.get("dtype") if isinstance(quantization, dict) else None
        if kind not in _QUANTIZED or (kind == "float16" and dtype != "float32"):
            raise ModelFileError(source, f"weight '{spec['name']}' has unsupported "
                                         f"quantization {quantization!r}")
        if kind != "float16" and not all(isinstance(quantization.get(k), (int, float))
                                          for k in ("min", "scale")):
            raise ModelFileError(source, f"weight '{spec['name']}' quantization needs numeric "
                                         f"'min' and 'scale'")
        stored = _QUANTIZED[kind]
    return np.dtype(stored), int(np.prod(shape, dtype=np.int64))


def decode_weights(specs, data, source):
    """{name: array} from weight specs and their byte stream; the total length is checked
    against the specs before anything is decoded."""
    layouts = [spec_layout(spec, source) for spec in specs]
    expected = sum(dtype.itemsize * count for dtype, count in layouts)
    if expected != len(data):
        raise ModelFileError(source, f"the weight data is {len(data)} bytes but the manifest "
                                     f"describes {expected} bytes"
                                     f"{' (truncated?)' if len(data) < expected else ''}")
    result, offset = {}, 0
    for spec, (dtype, count) in zip(specs, layouts):
        raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        offset += dtype.itemsize * count
        result[spec["name"]] = _dequantize(raw, spec).reshape(spec["shape"])
    return result


def _dequantize(raw, spec):
    quantization = spec.get("quantization")
    if quantization is None:
        return raw.astype(bool) if spec["dtype"] == "bool" else raw.astype(_DTYPES[spec["dtype"]])
    if quantization["dtype"] == "float16":
        return raw.astype(np.float32)
    values = (raw.astype(np.float32) * np.float32(quantization["scale"])
              + np.float32(quantization["min"]))
    return np.round(values).astype(np.int32) if spec["dtype"] == "int32" else values


def shard(data, shard_bytes=SHARD_BYTES):
    """The byte stream cut into pieces of at most `shard_bytes` (at least one piece)."""
    return [data[i:i + shard_bytes] for i in range(0, len(data), shard_bytes)] or [b""]


# ---------------------------------------------------------------------------- writing


def model_json(model, specs, paths, training=None):
    """The model.json object TF.js's loadLayersModel parses (with `training`, a
    trainingConfig)."""
    topology = config_normalize.to_keras2(serialize.model_config(model),
                                          serialize.call_argument_names(model))
    for layer in _layers(topology):
        if layer["class_name"] in _NOT_IN_TFJS:
            raise ValueError(f"Layer '{layer['config']['name']}': TF.js has no "
                             f"{layer['class_name']} layer")
        if layer["class_name"] in _UNLIKE_IN_TFJS:
            raise ValueError(f"Layer '{layer['config']['name']}': TF.js's {layer['class_name']} "
                             f"layer does not compute what Keras's does (TF.js 4.22 fails to run "
                             f"it or resamples differently); resize images before the model")
        if layer["class_name"] in ("GRU", "GRUCell") and layer["config"].get("reset_after"):
            raise ValueError(f"Layer '{layer['config']['name']}': TF.js has no "
                             f"{layer['class_name']} with reset_after=True; use "
                             f"{layer['class_name']}(..., reset_after=False) for TF.js")
        if layer["class_name"] == "Conv2DTranspose" and (
                layer["config"].get("output_padding") is not None
                or set(layer["config"].get("dilation_rate", [1])) != {1}):
            raise ValueError(f"Layer '{layer['config']['name']}': TF.js's Conv2DTranspose "
                             f"ignores output_padding and dilation_rate (4.22)")
    _refuse_reversed_states(topology, "saved")
    _refuse_initial_state(topology)
    topology.update({"keras_version": f"engine {engine.__version__}", "backend": "engine"})
    document = {"format": "layers-model", "generatedBy": f"engine {engine.__version__}",
                "convertedBy": None, "modelTopology": topology,
                "weightsManifest": [{"paths": paths, "weights": specs}]}
    if training is not None:
        document["trainingConfig"] = training
    return document


def _refuse_reversed_states(topology, verb):
    """TF.js returns stacked cells' states in reverse cell order (Keras in cell order): an RNN
    over StackedRNNCells with return_state=True would mean other tensors in the two."""
    for layer in _layers(topology):
        cell = layer["config"].get("cell")
        if layer["class_name"] == "RNN" and layer["config"].get("return_state") and \
                isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
            raise ValueError(f"Layer '{layer['config'].get('name')}': an RNN over "
                             f"StackedRNNCells with return_state=True cannot be {verb} for "
                             f"TF.js (TF.js returns the cells' states in reverse cell order, "
                             f"Keras in cell order)")


def _refuse_initial_state(topology):
    """TF.js 4.22 fails to build an RNN whose saved call passes initial_state."""
    for layer in _layers(topology):
        if any(len(entry) > 3 and "initial_state" in entry[3]
               for node in layer.get("inbound_nodes") or [] for entry in node):
            raise ValueError(f"Layer '{layer['config'].get('name')}': TF.js cannot load a "
                             f"recurrent layer called with initial_state (TF.js 4.22 fails to "
                             f"build it from a saved model)")


def _layers(topology):
    """The layer entries of a Keras-2-style (or canonical) model config, nested and wrapped
    layers included."""
    for layer in topology["config"]["layers"]:
        yield from _with_wrapped(layer)
        if layer["class_name"] in ("Sequential", "Model", "Functional"):
            yield from _layers(layer)


def _with_wrapped(layer):
    """A layer entry, then the entries of the layers it wraps (a Bidirectional's LSTM, an
    RNN's cells...)."""
    yield layer
    for entry in config_normalize.nested_layer_entries(layer["config"]):
        yield from _with_wrapped(entry)


def _unique_names(named_arrays):
    """`named_arrays`, refused where two weights share a name (TF.js matches weights by name,
    and a nested model's weights are named without the model's name, as TF.js names them)."""
    seen = set()
    for name, _ in named_arrays:
        if name in seen:
            raise ValueError(f"Two weights are named '{name}' (layers of nested models share a "
                             f"name); TF.js matches weights by name: rename one layer")
        seen.add(name)
    return named_arrays


def save(model, path, include_optimizer=True, shard_bytes=SHARD_BYTES):
    """Write `path` (a folder, or a .../model.json path) atomically; with `include_optimizer`
    a compiled model's trainingConfig and optimizer weights go in too, as TF.js writes them."""
    folder = os.path.dirname(path) if path.endswith("model.json") else path
    specs, data = encode_weights(_unique_names([(name, weights.to_numpy(variable)) for name,
                                                variable in weights.named_weights(model)]))
    training = tfjs_training.training_config(model) if include_optimizer else None
    if training is not None:
        optimizer_specs, optimizer_data = encode_weights(tfjs_training.optimizer_weights(model))
        specs += [{**spec, "group": tfjs_training.OPTIMIZER_GROUP} for spec in optimizer_specs]
        data += optimizer_data
    pieces = shard(data, shard_bytes)
    paths = [f"group1-shard{i + 1}of{len(pieces)}.bin" for i in range(len(pieces))]
    document = model_json(model, specs, paths, training)
    with safety.atomic_directory(folder, _is_model_file) as temporary:
        for name, piece in zip(paths, pieces):
            with open(os.path.join(temporary, name), "wb") as handle:
                handle.write(piece)
        with open(os.path.join(temporary, "model.json"), "w") as handle:
            json.dump(document, handle)


def _is_model_file(name):
    return name == "model.json" or bool(_SHARD_NAME.fullmatch(name))


# ---------------------------------------------------------------------------- reading


def read(location):
    """(model.json object, {weight name: array}, [(optimizer weight name, array)]) from a
    folder, a model.json path or an http(s):// URL of a model.json."""
    if re.match(r"https?://", location):
        return _read_url(location)
    path = os.path.join(location, "model.json") if os.path.isdir(location) else location
    document = safety.parse_json(safety.read_file(path, max_bytes=_MAX_JSON_BYTES), path)
    folder = os.path.dirname(os.path.abspath(path))
    return (document, *_read_weights(document, path, lambda p: safety.read_file(
        safety.resolve_inside(folder, p, path), path)))


def _read_url(url):
    document = safety.parse_json(_fetch(url, url), url)

    def fetch_relative(relative):
        return _fetch(urllib.parse.urljoin(url, safety.check_relative(relative, url)), url)

    return (document, *_read_weights(document, url, fetch_relative))


def _fetch(url, source):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except OSError as error:
        raise ModelFileError(source, f"cannot fetch {url} ({error})") from None


def _read_weights(document, source, read_path):
    if document.get("format", "layers-model") != "layers-model":
        raise ModelFileError(source, f"format is {document.get('format')!r}, not "
                                     f"'layers-model' (graph models are not supported)")
    if not isinstance(document.get("modelTopology"), dict):
        raise ModelFileError(source, "model.json has no 'modelTopology' object")
    manifest = document.get("weightsManifest", [])
    if not isinstance(manifest, list) or not all(
            isinstance(group, dict) and isinstance(group.get("paths"), list)
            and isinstance(group.get("weights"), list) for group in manifest):
        raise ModelFileError(source, "malformed 'weightsManifest'")
    names = set()
    for group in manifest:  # every path and spec checked before any shard is read
        for relative in group["paths"]:
            safety.check_relative(relative, source)
        for spec in group["weights"]:
            spec_layout(spec, source)
            if spec["name"] in names:
                raise ModelFileError(source, f"the manifest lists weight '{spec['name']}' "
                                             f"twice")
            names.add(spec["name"])
    arrays, optimizer_state = {}, []
    for group in manifest:
        data = b"".join(read_path(relative) for relative in group["paths"])
        decoded = decode_weights(group["weights"], data, source)
        for spec in group["weights"]:
            if spec.get("group") == tfjs_training.OPTIMIZER_GROUP:
                optimizer_state.append((spec["name"], decoded[spec["name"]]))
            else:
                arrays[spec["name"]] = decoded[spec["name"]]
    return arrays, optimizer_state


def load(location, custom_objects=None, compile=True):
    """A model built from a TF.js model.json and its weights; with `compile`, compiled from its
    trainingConfig (if any) with the optimizer state restored, as tf.loadLayersModel does."""
    document, arrays, optimizer_state = read(location)
    try:
        canonical = config_normalize.normalize(document["modelTopology"],
                                               style=config_normalize.KERAS2)
        _refuse_reversed_states(canonical, "loaded")
    except ValueError as error:
        raise ModelFileError(location, str(error)) from None
    model = serialize.model_from_config(canonical, custom_objects)
    weights.assign(weights.match_by_name(model, arrays, location), location)
    training = document.get("trainingConfig") if compile else None
    if training is not None:
        tfjs_training.compile_from_training_config(model, training, location)
        if optimizer_state:
            tfjs_training.restore_optimizer(model, optimizer_state, location)
    return model
