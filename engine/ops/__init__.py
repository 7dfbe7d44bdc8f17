"""The public ops, by family. Each op validates its inputs, then dispatches one kernel.

Each family module lists its public ops in __all__; they are re-exported here and from engine.
"""
from engine.ops.conv import *  # noqa: F401,F403
from engine.ops.convert import convert_to_tensor, from_dlpack  # noqa: F401
from engine.ops.creation import *  # noqa: F401,F403
from engine.ops.einsum_op import *  # noqa: F401,F403
from engine.ops.elementwise import *  # noqa: F401,F403
from engine.ops.fused import *  # noqa: F401,F403
from engine.ops.indexing import *  # noqa: F401,F403
from engine.ops.linalg import *  # noqa: F401,F403
from engine.ops.nn import *  # noqa: F401,F403
from engine.ops.random import *  # noqa: F401,F403
from engine.ops.reduce import *  # noqa: F401,F403
from engine.ops.shape import *  # noqa: F401,F403

from engine.ops import (conv, creation, einsum_op, elementwise, fused, indexing, linalg, nn,
                        random, reduce, shape)

# Only the ops themselves, not the family modules, reach `engine` through `import *`.
__all__ = ["convert_to_tensor", "from_dlpack"] + [
    name for family in (conv, creation, einsum_op, elementwise, fused, indexing, linalg, nn,
                        random, reduce, shape)
    for name in family.__all__]
