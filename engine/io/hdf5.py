"""h5py, imported when a .keras or .h5 file is first read or written: with the core install
(NumPy only), .engine and TF.js files save and load without it."""
import importlib


class _H5py:
    """Stands in for the h5py module; the first attribute asked for imports it."""

    def __getattr__(self, name):
        try:
            module = importlib.import_module("h5py")
        except ImportError:
            raise ImportError("Keras .keras and .h5 files need h5py: pip install 'engine[io]' "
                              "(or pip install h5py)") from None
        return getattr(module, name)


h5py = _H5py()
