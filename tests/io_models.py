"""Small models covering every layer type, with random weights, for the model-file tests."""
import numpy as np

import engine
from engine import layers


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if w.name.endswith("moving_variance")
                           else rng.uniform(-0.5, 0.5, w.shape) for w in layer.weights])
    return model


def mlp():
    return engine.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu",
                                                               name="hidden"),
                              layers.Dense(6, activation="sigmoid", name="gate"),
                              layers.Dense(4, activation="softmax", name="probs")],
                             name="mlp"), (4, 8)


def cnn():
    return engine.Sequential([layers.Input((8, 8, 3)), layers.Conv2D(4, 3, name="conv"),
                              layers.BatchNormalization(name="bn"),
                              layers.Activation("relu", name="act"),
                              layers.MaxPooling2D(2, name="pool"),
                              layers.Dropout(0.25, name="drop"),
                              layers.Flatten(name="flat"), layers.Dense(3, name="fc")],
                             name="cnn"), (2, 8, 8, 3)


def residual():
    image = layers.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 1, padding="same", name="stem")(image)
    depthwise = layers.DepthwiseConv2D(3, padding="same", name="dw")(stem)
    separable = layers.SeparableConv2D(4, 3, padding="same", activation="relu",
                                       name="sep")(depthwise)
    total = layers.Add(name="residual")([stem, separable])
    pooled = layers.GlobalAveragePooling2D(name="gap")(total)
    return engine.Model(image, layers.Dense(2, name="head")(pooled), name="residual"), \
        (2, 8, 8, 3)


def rnn(reset_after=False):
    """Recurrent layers behind a Masking layer (build() zeroes some steps of the batch)."""
    return engine.Sequential([layers.Input((5, 3)), layers.Masking(name="mask"),
                              layers.LSTM(4, return_sequences=True, name="lstm"),
                              layers.GRU(3, reset_after=reset_after, return_sequences=True,
                                         name="gru"),
                              layers.SimpleRNN(2, name="simple"),
                              layers.Dense(2, name="out")], name="rnn"), (2, 5, 3)


def zoo():
    """The remaining layer types in one functional graph with two branches."""
    image = layers.Input((6, 6, 2), name="pixels")
    padded = layers.ZeroPadding2D(1, name="pad")(image)
    conv = layers.Conv2D(3, 3, strides=2, activation="tanh", name="conv")(padded)
    up = layers.UpSampling2D(2, name="up")(conv)
    transposed = layers.Conv2DTranspose(2, 3, padding="same", name="deconv")(up)
    pooled = layers.AveragePooling2D(2, name="avg")(transposed)
    gmax = layers.GlobalMaxPooling2D(name="gmax")(pooled)
    flat = layers.Flatten(name="flat")(pooled)
    joined = layers.Concatenate(name="cat")([gmax, flat])
    dense = layers.Dense(6, activation="elu", name="dense")(joined)
    normed = layers.LayerNormalization(name="ln")(dense)
    seq = layers.Reshape((3, 2), name="reshape")(normed)
    seq = layers.Permute((2, 1), name="permute")(seq)
    conv1d = layers.Conv1D(2, 2, name="conv1d")(seq)
    flat1d = layers.Flatten(name="flat1d")(conv1d)
    repeated = layers.RepeatVector(2, name="repeat")(flat1d)
    flat2 = layers.Flatten(name="flat2")(repeated)
    branch = layers.Dense(8, name="branch")(flat2)
    mixed = layers.Multiply(name="mul")([branch, layers.Dense(8, name="gate")(joined)])
    mixed = layers.Average(name="avgmerge")([mixed, branch])
    mixed = layers.Maximum(name="max")([mixed, branch])
    return engine.Model(image, layers.Dense(3, name="out")(mixed), name="zoo"), (2, 6, 6, 2)


def sequence():
    """1-D pooling, cropping, rescaling, the noise layers, Minimum, Dot and the activation
    layers with arguments."""
    image = layers.Input((6, 5, 2), name="image")
    scaled = layers.Rescaling(0.5, offset=-0.25, name="rescale")(image)
    cropped = layers.Cropping2D(((1, 0), (1, 2)), name="crop")(scaled)
    rows = layers.Reshape((10, 2), name="rows")(cropped)
    rows = layers.SpatialDropout1D(0.2, name="spatial")(rows)  # the noise layers: identity
    rows = layers.GaussianDropout(0.1, name="gdrop")(layers.GaussianNoise(0.1, name="noise")(rows))
    pooled = layers.MaxPooling1D(2, strides=1, padding="same", name="maxpool1d")(rows)
    pooled = layers.AveragePooling1D(3, strides=2, name="avgpool1d")(pooled)
    leaky = layers.LeakyReLU(negative_slope=0.1, name="leaky")(
        layers.PReLU(shared_axes=[1], name="prelu")(pooled))
    relu = layers.ReLU(max_value=0.4, name="relu")(layers.Dense(3, name="d1")(leaky))
    elu = layers.ELU(name="elu")(layers.Dense(3, name="d2")(relu))
    summary = layers.Concatenate(name="cat")([layers.GlobalAveragePooling1D(name="gap")(elu),
                                              layers.GlobalMaxPooling1D(name="gmp")(elu)])
    heads = [layers.Dense(4, name="out")(summary), layers.Dense(4, name="out2")(summary)]
    joined = layers.Concatenate(name="joined")([layers.Minimum(name="min")(heads),
                                                layers.Dot(1, normalize=True, name="dot")(heads)])
    return engine.Model(image, layers.Softmax(name="softmax")(joined), name="sequence"), \
        (2, 6, 5, 2)


def keras_only(lib=engine, layers_module=layers):
    """Layers Keras has and TF.js lacks: 1-D padding, cropping and upsampling, group and unit
    normalization, Identity."""
    L = layers_module
    steps = L.Input((6, 4), name="steps")
    padded = L.ZeroPadding1D((2, 1), name="pad1d")(steps)
    cropped = L.Cropping1D((1, 3), name="crop1d")(L.UpSampling1D(2, name="up1d")(padded))
    normed = L.GroupNormalization(2, name="groupnorm")(L.Identity(name="same")(cropped))
    unit = L.UnitNormalization(name="unitnorm")(L.Dense(3, name="dense")(normed))
    return lib.Model(steps, L.Dense(2, name="out")(L.Flatten(name="flat")(unit)),
                     name="keras_only"), (2, 6, 4)


def embedding():
    """Also the layers TF.js lacks: Subtract, and GRU with reset_after=True; id 0 is masked."""
    tokens = layers.Input((4,), dtype="int32", name="tokens")
    vectors = layers.Embedding(10, 3, mask_zero=True, name="embed")(tokens)
    recurrent = layers.GRU(2, name="gru")(vectors)
    difference = layers.Subtract(name="sub")([recurrent, layers.Dense(2, name="d")(recurrent)])
    return engine.Model(tokens, difference, name="embedding"), (2, 4)


def transfer():
    """A Sequential used as a layer of a functional model (the transfer-learning shape), with
    a BatchNormalization so trainable and non-trainable weights interleave."""
    base = engine.Sequential([layers.Input((8,)), layers.Dense(6, activation="relu", name="d1"),
                              layers.BatchNormalization(name="bn"), layers.Dense(4, name="d2")],
                             name="base")
    features = layers.Input((8,), name="features")
    return engine.Model(features, layers.Dense(3, name="head")(base(features)),
                        name="transfer"), (4, 8)


def nested_functional():
    """A functional model used as a layer of a functional model, beside a plain branch."""
    inner_input = layers.Input((8,), name="inner_in")
    hidden = layers.Dense(5, activation="tanh", name="inner_dense")(inner_input)
    inner = engine.Model(inner_input, layers.BatchNormalization(name="inner_bn")(hidden),
                         name="encoder")
    values = layers.Input((8,), name="values")
    joined = layers.Concatenate(name="join")([inner(values), layers.Dense(2, name="skip")(values)])
    return engine.Model(values, layers.Dense(3, name="head")(joined), name="outer"), (4, 8)


def shared_outside():
    """A layer called outside the model before its call inside: in the config its node index
    counts only its calls in the model (Keras 3), so the call inside is node 0, not 1."""
    shared = layers.Dense(4, activation="relu", name="shared")
    shared(layers.Input((8,), name="elsewhere"))
    values = layers.Input((8,), name="values")
    hidden = shared(values)
    joined = layers.Concatenate(name="join")([hidden, layers.Dense(2, name="skip")(hidden)])
    return engine.Model(values, layers.Dense(3, name="head")(joined), name="shared_outside"), \
        (4, 8)


def nested_output(lib=engine, layers_module=layers):
    """A functional model called twice, both calls outputs of the outer model: Keras 3 numbers
    such calls from 1 in output_layers (only there). Built from `lib` (engine or keras)."""
    inner_input = layers_module.Input((8,), name="inner_in")
    inner = lib.Model(inner_input, layers_module.Dense(3, name="inner_dense")(inner_input),
                      name="encoder")
    values = layers_module.Input((8,), name="values")
    branches = [layers_module.Dense(8, name=name)(values) for name in ("left", "right")]
    return lib.Model(values, [inner(branch) for branch in branches], name="outer"), (4, 8)


def wrappers():
    """Bidirectional (LSTM concat, GRU ave) and TimeDistributed(Dense): a text/sequence
    model of the shape users move between Keras and TF.js (GRU reset_after=False: TF.js)."""
    return engine.Sequential([layers.Input((5, 3)),
                              layers.Bidirectional(layers.LSTM(4, return_sequences=True),
                                                   name="bilstm"),
                              layers.TimeDistributed(layers.Dense(3, activation="tanh"),
                                                     name="per_step"),
                              layers.Bidirectional(layers.GRU(2, reset_after=False),
                                                   merge_mode="ave", name="bigru"),
                              layers.Dense(2, name="out")], name="wrappers"), (2, 5, 3)


BUILDERS = {"mlp": mlp, "cnn": cnn, "residual": residual, "rnn": rnn, "zoo": zoo,
            "embedding": embedding, "transfer": transfer, "nested_functional": nested_functional,
            "shared_outside": shared_outside, "nested_output": nested_output,
            "sequence": sequence, "keras_only": keras_only, "wrappers": wrappers}
NESTED = ("transfer", "nested_functional")  # models with a model as a layer


def build(name, seed=0):
    """(model with random weights, an input batch for it)."""
    layers.clear_session()
    model, shape = BUILDERS[name]()
    _randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    x = (rng.integers(0, 10, shape).astype("int32") if name == "embedding"
         else rng.uniform(-1, 1, shape).astype("float32"))
    if name == "rnn":  # masked steps: trailing (padding) and leading ones
        x[0, 3:] = x[1, :1] = 0
    return model, x
