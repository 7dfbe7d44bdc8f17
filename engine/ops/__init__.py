"""The public ops, by family. Each op validates its inputs, then dispatches one kernel."""
from engine.ops.convert import convert_to_tensor, from_dlpack
from engine.ops.creation import (arange, eye, full, linspace, ones, ones_like, tensor, zeros,
                                 zeros_like)
from engine.ops.elementwise import *  # noqa: F401,F403
from engine.ops.elementwise import abs, add, cast, div, round, pow, where  # noqa: F401
from engine.ops.reduce import *  # noqa: F401,F403
from engine.ops.reduce import sum  # noqa: F401
from engine.ops.shape import *  # noqa: F401,F403
