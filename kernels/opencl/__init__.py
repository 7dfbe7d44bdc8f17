"""Kernels of the opencl backend, one module per op family."""
from engine.kernels import import_family_modules

import_family_modules(__name__, __path__)
