"""Model files: TF.js Layers, Keras 3 .keras, legacy Keras .h5 and our .engine format."""
from engine.io.formats import (detect_format, load_model, load_weights,  # noqa: F401
                               save_model, save_weights)
from engine.io.safety import ModelFileError  # noqa: F401
from engine.io.serialize import UnknownLayerError  # noqa: F401
