"""Keras 3's structured-data preprocessing layers: CategoryEncoding (integer ids to one-hot,
multi-hot or count vectors), Discretization (numbers to bin ids by boundaries, given or adapted
as Keras's approximate quantiles) and IntegerLookup (integer tokens to vocabulary indices, or
back with invert=True). They run as engine ops in a model; adapt() reads data on the host with
NumPy, as Normalization.adapt does. Sparse outputs, tf_idf and string vocabularies (StringLookup)
are refused.
"""
import numpy as np

import engine
from engine.layers.base import Layer

ENCODINGS = ("one_hot", "multi_hot", "count")


def _fail(layer, message):
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {message}")


def _choice(layer, argument, value, allowed):
    if value not in allowed:
        _fail(layer, f"unknown {argument} {value!r}; expected one of "
                     f"{', '.join(map(repr, allowed))}")
    return value


def _whole(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _refuse_sparse(layer, sparse):
    if sparse:
        _fail(layer, "sparse=True is not supported (engine tensors are dense); use sparse=False")


def encode(layer, ids, mode, depth, dtype):
    """Keras's encode_categorical_inputs for dense ids: one_hot adds an axis of `depth` (taking
    the place of a last axis of 1); multi_hot and count collapse the last axis of rank-1 or
    rank-2 ids. Ids outside [0, depth) count nowhere."""
    if mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = engine.reshape(ids, ids.shape[:-1])
        return engine.one_hot(ids, depth, dtype=dtype)
    if ids.ndim > 2:
        _fail(layer, f"output_mode={mode!r} takes inputs of rank 1 or 2, got shape "
                     f"{tuple(ids.shape)}")
    hits = engine.one_hot(ids, depth, dtype=dtype)
    reduce = engine.sum if mode == "count" else engine.max
    return reduce(hits, axis=ids.ndim - 1)


def encoded_shape(layer, input_shape, mode, depth):
    """The output shape of `encode` for inputs of `input_shape`."""
    shape = tuple(input_shape)
    if mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    if len(shape) > 2:
        _fail(layer, f"output_mode={mode!r} takes inputs of rank 1 or 2, got shape {shape}")
    return shape[:-1] + (depth,)


def _integer_ids(inputs):
    return inputs if inputs.dtype in engine.dtypes.INTS else engine.cast(inputs, "int32")


class CategoryEncoding(Layer):
    """Integer ids in [0, num_tokens) to one-hot (an axis added), multi-hot or count vectors
    (the last axis of rank-1 or rank-2 ids collapsed), in the layer's dtype."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        self.output_mode = _choice(self, "output_mode", output_mode, ENCODINGS)
        if not _whole(num_tokens) or num_tokens < 1:
            _fail(self, f"num_tokens must be a positive integer, got {num_tokens!r}")
        _refuse_sparse(self, sparse)
        self.num_tokens, self.sparse = int(num_tokens), False

    def call(self, inputs):
        ids = _integer_ids(inputs)
        return encode(self, ids if ids.ndim else engine.reshape(ids, (1,)), self.output_mode,
                      self.num_tokens, self.dtype)

    def compute_output_shape(self, input_shape):
        return encoded_shape(self, tuple(input_shape) or (1,), self.output_mode, self.num_tokens)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode, "sparse": self.sparse}


class Discretization(Layer):
    """Bin ids: x in [b[i-1], b[i]) gets i for the sorted bin_boundaries b (int32), or their
    one-hot / multi-hot / count encodings (float). adapt(data) sets num_bins - 1 boundaries
    from Keras's approximate quantile summary of the data (same numbers as Keras)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, **kwargs):
        super().__init__(**kwargs)
        self.output_mode = _choice(self, "output_mode", output_mode, ("int",) + ENCODINGS)
        _refuse_sparse(self, sparse)
        if num_bins is not None and (not _whole(num_bins) or num_bins < 0):
            _fail(self, f"num_bins must be an integer >= 0, got {num_bins!r}")
        if (num_bins is None) == (bin_boundaries is None):
            _fail(self, "set exactly one of bin_boundaries and num_bins (then call adapt()); "
                        f"got bin_boundaries={bin_boundaries!r}, num_bins={num_bins!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
                0 < epsilon < 1):
            _fail(self, f"epsilon must be a number in (0, 1), got {epsilon!r}")
        self.bin_boundaries = None if bin_boundaries is None else self._boundaries(
            bin_boundaries)
        self.num_bins, self.epsilon, self.sparse = num_bins, float(epsilon), False

    def _boundaries(self, values):
        array = np.asarray(values)
        if array.ndim != 1 or array.dtype.kind not in "iuf" or np.any(np.diff(array) < 0):
            _fail(self, f"bin_boundaries must be a sorted list of numbers, got {values!r}")
        return [float(v) for v in array]

    @classmethod
    def from_config(cls, config):
        """An adapted layer's config holds num_bins and its boundaries both (as Keras's)."""
        config = dict(config)
        boundaries = config.pop("bin_boundaries", None)
        if config.get("num_bins") is None:
            return cls(bin_boundaries=boundaries, **config)
        layer = cls(**config)
        layer.bin_boundaries = None if boundaries is None else layer._boundaries(boundaries)
        return layer

    def adapt(self, data):
        """Boundaries from `data` (an array, or an engine.data.Dataset of batches): Keras's
        summarize / merge_summaries / get_bin_boundaries, computed on the host in float32."""
        from engine.data import Dataset

        if self.num_bins is None:
            _fail(self, "it was given bin_boundaries; only a layer made with num_bins adapts")
        batches = (list(data.as_numpy_iterator()) if isinstance(data, Dataset)
                   else [data])
        arrays = [np.asarray(batch) for batch in batches]
        for array in arrays:
            if array.dtype.kind not in "iufb" or array.size == 0:
                _fail(self, f"adapt() takes non-empty numeric data, got dtype {array.dtype} "
                            f"and shape {array.shape}")
        summary = np.zeros((2, 0), np.float32)
        for array in arrays:
            summary = _merge(_summarize(array.astype(np.float32), self.epsilon), summary,
                             self.epsilon)
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def _depth(self):
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def call(self, inputs):
        if self.bin_boundaries is None:
            _fail(self, "it has no bin boundaries: pass bin_boundaries or call adapt() first")
        values = engine.cast(inputs, "float32") if inputs.dtype != "float32" else inputs
        if self.bin_boundaries:
            bounds = engine.tensor(np.array(self.bin_boundaries, np.float32),
                                   backend=values.backend)
            above = engine.greater_equal(engine.expand_dims(values, -1), bounds)
            ids = engine.sum(engine.cast(above, "int32"), axis=-1)
        else:
            ids = engine.cast(engine.zeros_like(values), "int32")
        if self.output_mode == "int":
            return ids
        return encode(self, ids, self.output_mode, self._depth(), self.dtype)

    def output_dtype(self, inputs):
        return "int32" if self.output_mode == "int" else self.dtype

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(self, input_shape, self.output_mode, self._depth())

    def get_config(self):
        """Keras's keys: no 'trainable' (Keras's Discretization does not take it)."""
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}


def _summarize(values, epsilon):
    """Keras's summary of one batch: every step-th sorted value, each weighing `step`."""
    values = np.sort(values.reshape(-1))
    step = max(values.size * epsilon, 1)
    kept = values[int(step - 1)::int(step)]
    return np.stack([kept, np.full_like(kept, step)])


def _merge(first, second, epsilon):
    merged = np.concatenate((first, second), axis=1)
    return _compress(merged[:, np.argsort(merged[0])], epsilon)


def _compress(summary, epsilon):
    """The summary re-binned at cumulative-weight fractions epsilon, 2 epsilon, ... (linear
    interpolation), unless it already has fewer than 1 / epsilon points."""
    if summary.shape[1] * epsilon < 1:
        return summary
    fractions = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    shares = cumulative / cumulative[-1]
    bins = np.interp(fractions, shares, summary[0])
    weights = np.diff(np.interp(fractions, shares, cumulative), prepend=0.0)
    return np.stack((bins, weights)).astype(np.float32)


class IntegerLookup(Layer):
    """Integer tokens to vocabulary indices (int64): [mask] + [OOV] * num_oov_indices + the
    vocabulary, tokens outside it going to an OOV index (token mod num_oov_indices when there
    are several; -1 when num_oov_indices=0, where Keras raises instead), or those indices
    encoded (one_hot, multi_hot, count); invert=True maps indices back to tokens.

    The vocabulary lives on the host (a Python list, as Keras keeps a lookup table, not weights)
    and adapt() counts tokens with NumPy (most frequent first, ties by larger token, as Keras).
    The lookup itself is engine ops (inputs compared with every vocabulary token), so it costs
    inputs x vocabulary size. An adapted vocabulary is written into the config (Keras keeps it
    in the .keras file's assets, which this engine does not read or write); a Keras file whose
    adapted vocabulary sits in assets is refused."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, vocabulary_size=None, **kwargs):
        super().__init__(**kwargs)
        if vocabulary_dtype != "int64":
            _fail(self, f"only vocabulary_dtype='int64' is supported, got {vocabulary_dtype!r} "
                        f"(string vocabularies need StringLookup, which this engine lacks)")
        if max_tokens is not None and (not _whole(max_tokens) or max_tokens <= 1):
            _fail(self, f"max_tokens must be None or an integer > 1, got {max_tokens!r}")
        if not _whole(num_oov_indices) or num_oov_indices < 0:
            _fail(self, f"num_oov_indices must be an integer >= 0, got {num_oov_indices!r}")
        for argument, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and not _whole(token):
                _fail(self, f"{argument} must be None or an integer, got {token!r}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode in ("tf_idf", "tf-idf") or idf_weights is not None:
            _fail(self, "output_mode='tf_idf' (and idf_weights) is not supported")
        self.output_mode = _choice(self, "output_mode", output_mode, ("int",) + ENCODINGS)
        if invert and output_mode != "int":
            _fail(self, f"invert=True needs output_mode='int', got {output_mode!r}")
        _refuse_sparse(self, sparse)
        if pad_to_max_tokens and max_tokens is None:
            _fail(self, "pad_to_max_tokens=True needs max_tokens")
        _choice(self, "oov_method", oov_method, ("floormod",))
        if salt is not None:
            _fail(self, f"salt is only used with oov_method='farmhash', got salt={salt!r}")
        if vocabulary is None and vocabulary_size is not None:
            _fail(self, "its adapted vocabulary is stored in the file's assets, which this "
                        "engine does not read; save the layer with vocabulary=[...] instead")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token = None if mask_token is None else int(mask_token)
        self.oov_token = None if oov_token is None else int(oov_token)
        self.invert, self.pad_to_max_tokens = bool(invert), bool(pad_to_max_tokens)
        self.vocabulary_dtype, self.oov_method, self.sparse = "int64", "floormod", False
        self.tokens, self._given_vocabulary = [], False
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _specials(self):
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices

    def set_vocabulary(self, vocabulary):
        """Use these tokens (optionally led by the mask and OOV tokens, as get_vocabulary()
        returns them); checked before the layer changes."""
        if isinstance(vocabulary, str):
            _fail(self, "a vocabulary file is not supported; pass a list of integers")
        array = np.asarray(vocabulary)
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
            _fail(self, f"the vocabulary must be a non-empty list of integers (strings need "
                        f"StringLookup, which this engine lacks), got {vocabulary!r}")
        tokens = [int(t) for t in array]
        specials = self._specials()
        if tokens[:len(specials)] == specials:
            tokens = tokens[len(specials):]
        repeated = sorted({t for t in tokens if tokens.count(t) > 1})
        if repeated:
            _fail(self, f"the vocabulary repeats the tokens {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            _fail(self, f"the mask token {self.mask_token} is in the vocabulary; give it only "
                        f"at the start, in this order: {specials}")
        if self.invert and self.oov_token is not None and self.oov_token in tokens:
            _fail(self, f"the OOV token {self.oov_token} is in the vocabulary; give it only "
                        f"at the start, in this order: {specials}")
        if self.max_tokens is not None and self._token_start() + len(tokens) > self.max_tokens:
            _fail(self, f"a vocabulary of {self._token_start() + len(tokens)} indices is larger "
                        f"than max_tokens={self.max_tokens}")
        self.tokens, self._given_vocabulary = tokens, True

    def adapt(self, data):
        """The vocabulary from `data` (an array, or an engine.data.Dataset of batches): every
        token but the mask and OOV tokens, most frequent first, ties by the larger token,
        cut to max_tokens."""
        from engine.data import Dataset

        if self._given_vocabulary:
            _fail(self, "it was given a vocabulary; it cannot adapt")
        batches = (list(data.as_numpy_iterator()) if isinstance(data, Dataset) else [data])
        arrays = [np.asarray(batch) for batch in batches]
        for array in arrays:
            if array.dtype.kind not in "iu":
                _fail(self, f"adapt() takes integer tokens, got dtype {array.dtype} (strings "
                            f"need StringLookup, which this engine lacks)")
        tokens, counts = np.unique(np.concatenate([a.reshape(-1) for a in arrays]).astype(
            np.int64), return_counts=True)
        keep = ~np.isin(tokens, [t for t in (self.mask_token, self.oov_token) if t is not None])
        tokens, counts = tokens[keep], counts[keep]
        order = np.lexsort((tokens, counts))[::-1]
        if self.max_tokens:
            order = order[:self.max_tokens - self._token_start()]
        self.tokens = tokens[order].tolist()

    def get_vocabulary(self, include_special_tokens=True):
        return (self._specials() if include_special_tokens else []) + list(self.tokens)

    def vocabulary_size(self):
        return self._token_start() + len(self.tokens)

    def _depth(self):
        if self.pad_to_max_tokens:
            return self.max_tokens
        if not self.tokens:
            _fail(self, f"output_mode={self.output_mode!r} needs a vocabulary: pass vocabulary "
                        f"or call adapt() first")
        return self.vocabulary_size()

    def _vocabulary_tensor(self, like):
        return engine.tensor(np.array(self.tokens or [0], np.int64), backend=like.backend)

    def call(self, inputs):
        keys = engine.cast(inputs, "int64") if inputs.dtype != "int64" else inputs
        found = self._lookup_tokens(keys) if self.invert else self._lookup_indices(keys)
        if self.mask_token is not None and self.output_mode == "int":
            masked, value = ((engine.equal(keys, 0), self.mask_token) if self.invert
                             else (engine.equal(keys, self.mask_token), 0))
            found = engine.where(masked, engine.cast(engine.zeros_like(found) + value, "int64"),
                                 found)
        if self.output_mode == "int":
            return found
        if self.mask_token is not None:  # a masked token counts nowhere
            found = engine.where(engine.equal(keys, self.mask_token),
                                 engine.zeros_like(found) - 1, found)
        return encode(self, found, self.output_mode, self._depth(), "int64")

    def _lookup_indices(self, keys):
        vocabulary = self._vocabulary_tensor(keys)
        hits = engine.equal(engine.expand_dims(keys, -1), vocabulary)
        if not self.tokens:
            hits = engine.logical_and(hits, engine.zeros_like(hits))
        positions = engine.arange(self._token_start(), self._token_start() + max(
            len(self.tokens), 1), dtype="int64", backend=keys.backend)
        index = engine.sum(engine.cast(hits, "int64") * positions, axis=-1)
        if self.num_oov_indices > 1:
            oov = engine.mod(keys, self.num_oov_indices) + self._oov_start()
        else:
            oov = engine.zeros_like(keys) + (self._oov_start() if self.num_oov_indices else -1)
        return engine.where(engine.any(hits, axis=-1), index, oov)

    def _lookup_tokens(self, indices):
        start, size = self._token_start(), len(self.tokens)
        inside = engine.logical_and(engine.greater_equal(indices, start),
                                    engine.less(indices, start + size))
        slots = engine.where(inside, indices - start, engine.zeros_like(indices))
        tokens = engine.gather(self._vocabulary_tensor(indices), slots)
        default = -1 if self.oov_token is None else self.oov_token
        return engine.where(inside, tokens, engine.zeros_like(tokens) + default)

    def output_dtype(self, inputs):
        return "int64"

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(self, input_shape, self.output_mode, self._depth())

    def get_config(self):
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                  "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                  "mask_token": self.mask_token, "output_mode": self.output_mode,
                  "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                  "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": None,
                  "vocabulary": list(self.tokens) or None,
                  "vocabulary_size": self.vocabulary_size() if self.tokens else None,
                  "oov_method": self.oov_method, "salt": None}
