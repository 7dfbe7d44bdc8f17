"""Our own format, a .engine zip: model.json (canonical config, compile config, weight
manifests) and weights.bin (little-endian, model weights then optimizer state). Weights are
named through nested models ("<model>/<layer>/<weight>"). No pickle; names, shapes, dtypes and
byte lengths are checked before anything is built."""
import json
import zipfile

import engine
from engine.io import compile_config, config_normalize, safety, serialize, tfjs, weights
from engine.io.safety import ModelFileError

FORMAT = "engine-model"
_MANIFEST, _DATA = "model.json", "weights.bin"
_MAX_BYTES = 8 * 1024 ** 3


def save(model, path, include_optimizer=True):
    """Write `path` (a .engine zip) atomically, with the optimizer state when compiled."""
    model_specs, model_data = tfjs.encode_weights(
        [(name, weights.to_numpy(v))
         for name, v in weights.named_weights(model, through_models=True)])
    training = compile_config.compile_config(model) if include_optimizer else None
    state = weights.optimizer_variables(model) if training else []
    optimizer_specs, optimizer_data = tfjs.encode_weights(
        [(f"optimizer/{index}", weights.to_numpy(v)) for index, v in enumerate(state)])
    manifest = {"format": FORMAT, "generatedBy": f"engine {engine.__version__}",
                "model_config": serialize.model_config(model), "compile_config": training,
                "weights": model_specs, "optimizer_weights": optimizer_specs}
    with safety.atomic_file(path) as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_MANIFEST, json.dumps(manifest))
            archive.writestr(_DATA, model_data + optimizer_data)


def load(path, custom_objects=None, compile=True):
    manifest, data = _read(path)
    for key in ("model_config", "weights", "optimizer_weights"):
        if key not in manifest:
            raise ModelFileError(path, f"{_MANIFEST} has no '{key}'")
    split = sum(_byte_size(spec, path) for spec in manifest["weights"])
    arrays = tfjs.decode_weights(manifest["weights"], data[:split], path)
    state = tfjs.decode_weights(manifest["optimizer_weights"], data[split:], path)
    try:
        canonical = config_normalize.normalize(manifest["model_config"],
                                               style=config_normalize.OURS)
    except ValueError as error:
        raise ModelFileError(path, str(error)) from None
    model = serialize.model_from_config(canonical, custom_objects)
    weights.assign(weights.match_by_name(model, arrays, path, through_models=True), path)
    if compile and manifest.get("compile_config"):
        compile_config.compile_from_config(model, manifest["compile_config"])
        if state:
            weights.restore_optimizer(
                model, [state[spec["name"]] for spec in manifest["optimizer_weights"]], path)
    return model


def _byte_size(spec, source):
    dtype, count = tfjs.spec_layout(spec, source)
    return dtype.itemsize * count


def _read(path):
    try:
        with zipfile.ZipFile(path) as archive:
            for name in (_MANIFEST, _DATA):
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise ModelFileError(path, f"the archive has no {name}") from None
                if info.file_size > _MAX_BYTES:
                    raise ModelFileError(path, f"{name} is too large ({info.file_size} bytes)")
            manifest = safety.parse_json(archive.read(_MANIFEST), f"{path}/{_MANIFEST}")
            if manifest.get("format") != FORMAT:
                raise ModelFileError(path, f"format is {manifest.get('format')!r}, not {FORMAT!r}")
            return manifest, archive.read(_DATA)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(path, f"not a readable .engine zip archive ({error})") from None
