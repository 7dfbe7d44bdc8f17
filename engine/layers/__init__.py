"""Keras-style layers written with engine ops, plus (de)serialization of layer configs."""
from engine.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from engine.layers.attention import Attention, MultiHeadAttention  # noqa: F401
from engine.layers.categorical import (CategoryEncoding, Discretization,  # noqa: F401
                                      IntegerLookup)
from engine.layers.base import InputSpec, Layer, clear_session  # noqa: F401
from engine.layers.conv import (Conv1D, Conv2D, Conv2DTranspose, Cropping1D,  # noqa: F401
                                Cropping2D, DepthwiseConv2D, SeparableConv2D, UpSampling1D,
                                UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from engine.layers.conv import (Conv1DTranspose, DepthwiseConv1D,  # noqa: F401
                                SeparableConv1D)
from engine.layers.core import (Activation, Dense, Dropout, Embedding, Flatten,  # noqa: F401
                                Identity, Lambda, Masking, Permute, Rescaling, RepeatVector,
                                Reshape)
from engine.layers.einsum_dense import EinsumDense  # noqa: F401
from engine.layers.input_layer import Input, InputLayer  # noqa: F401
from engine.layers.keras_tensor import KerasTensor  # noqa: F401
from engine.layers.merge import (Add, Average, Concatenate, Dot, Maximum,  # noqa: F401
                                 Minimum, Multiply, Subtract)
from engine.layers.noise import (GaussianDropout, GaussianNoise, SpatialDropout1D,  # noqa: F401
                                 SpatialDropout2D)
from engine.layers.normalization import (BatchNormalization, GroupNormalization,  # noqa: F401
                                         LayerNormalization, Normalization, UnitNormalization)
from engine.layers.pooling import (AveragePooling1D, AveragePooling2D,  # noqa: F401
                                   GlobalAveragePooling1D, GlobalAveragePooling2D,
                                   GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                                   MaxPooling2D)
from engine.layers.preprocessing import (CenterCrop, RandomBrightness,  # noqa: F401
                                         RandomContrast, RandomCrop, RandomFlip,
                                         RandomRotation, RandomTranslation, RandomZoom,
                                         Resizing)
from engine.layers.recurrent import GRU, LSTM, RNN, SimpleRNN  # noqa: F401
from engine.layers.conv_lstm import ConvLSTM2D  # noqa: F401
from engine.layers.rnn_cells import (GRUCell, LSTMCell, SimpleRNNCell,  # noqa: F401
                                     StackedRNNCells)
from engine.layers.wrappers import Bidirectional, TimeDistributed  # noqa: F401

# Keras's other names for the same classes: engine.layers.MaxPool2D(2) works, and files that
# name them load.
MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D = (MaxPooling2D, AveragePooling2D, MaxPooling1D,
                                              AveragePooling1D)
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
Convolution1D, Convolution2D, Convolution2DTranspose = Conv1D, Conv2D, Conv2DTranspose
SeparableConvolution2D = SeparableConv2D
Convolution1DTranspose, SeparableConvolution1D = Conv1DTranspose, SeparableConv1D
_ALIASES = {"MaxPool2D": MaxPool2D, "AvgPool2D": AvgPool2D, "MaxPool1D": MaxPool1D,
            "AvgPool1D": AvgPool1D, "GlobalAvgPool2D": GlobalAvgPool2D,
            "GlobalMaxPool2D": GlobalMaxPool2D, "GlobalAvgPool1D": GlobalAvgPool1D,
            "GlobalMaxPool1D": GlobalMaxPool1D, "Convolution1D": Convolution1D,
            "Convolution2D": Convolution2D, "Convolution2DTranspose": Convolution2DTranspose,
            "SeparableConvolution2D": SeparableConvolution2D,
            "Convolution1DTranspose": Convolution1DTranspose,
            "SeparableConvolution1D": SeparableConvolution1D}


def layer_classes():
    """Every layer class by its Keras class name (models included: they nest as layers)."""
    from engine.models import Functional, Model, Sequential

    classes = {cls.__name__: cls for cls in (
        InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
        Embedding, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
        ZeroPadding2D, Cropping2D, UpSampling2D, ZeroPadding1D, Cropping1D, UpSampling1D,
        Identity, Lambda, Masking, GroupNormalization, UnitNormalization, MaxPooling2D,
        AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling1D,
        AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, BatchNormalization,
        LayerNormalization,
        Normalization, SimpleRNN, LSTM, GRU, RNN, SimpleRNNCell, LSTMCell, GRUCell,
        StackedRNNCells, Add, Subtract, Multiply, Average, Maximum, Minimum,
        Concatenate, Dot, ReLU, LeakyReLU, PReLU, ELU, Softmax, Rescaling, SpatialDropout1D,
        SpatialDropout2D, GaussianNoise, GaussianDropout, Bidirectional, TimeDistributed,
        MultiHeadAttention, Attention, EinsumDense, Sequential, Functional,
        Resizing, CenterCrop, RandomCrop, RandomFlip, RandomRotation, RandomZoom,
        RandomTranslation, RandomContrast, RandomBrightness, Conv1DTranspose,
        DepthwiseConv1D, SeparableConv1D, ConvLSTM2D, CategoryEncoding, Discretization,
        IntegerLookup)}
    classes["Model"] = Model
    return {**_ALIASES, **classes}


def serialize(layer):
    """{"class_name", "config"} for a layer (Keras's serialize_keras_object, minus module;
    an operation node keeps its module, keras.src.ops.numpy: its class names are layers'
    names too)."""
    from engine.layers.symbolic_ops import KERAS_MODULE, SymbolicOp

    entry = {"class_name": type(layer).__name__, "config": layer.get_config()}
    return {"module": KERAS_MODULE, **entry} if isinstance(layer, SymbolicOp) else entry


def deserialize(config):
    """A layer from {"class_name", "config"} (an operation node when its module says so)."""
    from engine.layers import symbolic_ops

    classes = (symbolic_ops.OPERATIONS if config.get("module") == symbolic_ops.KERAS_MODULE
               else layer_classes())
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown layer: '{config.get('class_name')}'. Known layers: "
                         f"{', '.join(sorted(classes))}")
    return cls.from_config(dict(config.get("config") or {}))
