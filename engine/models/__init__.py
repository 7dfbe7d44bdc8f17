"""Models: Sequential, the functional Model, and their training methods."""
from engine.models.functional import Functional, Model  # noqa: F401
from engine.models.sequential import Sequential  # noqa: F401
