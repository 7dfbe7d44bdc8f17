"""Dtype names (TF.js style strings) and the rules for choosing and combining them."""
import numpy as np

float16 = "float16"
float32 = "float32"
float64 = "float64"
int32 = "int32"
int64 = "int64"
bool_ = "bool"

ALL = (float16, float32, float64, int32, int64, bool_)
FLOATS = (float16, float32, float64)
INTS = (int32, int64)

# Rank used to pick the wider dtype when two tensors meet in a binary op.
_PROMOTION_RANK = {bool_: 0, int32: 1, int64: 2, float16: 3, float32: 4, float64: 5}


def as_dtype(dtype):
    """Normalise a dtype given as a name, a NumPy dtype or a Python type to its name."""
    if dtype is None:
        return None
    if type(dtype) is str and dtype in _PROMOTION_RANK:  # already a name (np.dtype.name is slow)
        return dtype
    if dtype is bool:
        return bool_
    if dtype is float:
        return float32
    if dtype is int:
        return int32
    name = np.dtype(dtype).name
    if name not in _PROMOTION_RANK:
        raise TypeError(f"Unsupported dtype '{name}'; expected one of {', '.join(ALL)}")
    return name


def is_floating(dtype):
    return dtype in FLOATS


def promote(a, b):
    """The dtype two operands are computed in: the wider of the two."""
    return a if _PROMOTION_RANK[a] >= _PROMOTION_RANK[b] else b


def infer_host_dtype(array):
    """TF.js's default: Python floats become float32, ints int32, unless a dtype is given."""
    kind = array.dtype.kind
    if kind == "f":
        return float16 if array.dtype == np.float16 else float32
    if kind in "iu":
        return int32
    if kind == "b":
        return bool_
    raise TypeError(f"Cannot make a tensor from data of dtype '{array.dtype}'")
