"""Input pipelines (tf.data-style Dataset) and loaders for CSV files, image folders, digits."""
from engine.data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset
from engine.data.loaders import from_csv, image_folder, load_digits

__all__ = ["AUTOTUNE", "Dataset", "INFINITE", "UNKNOWN", "from_csv", "image_folder",
           "load_digits"]
