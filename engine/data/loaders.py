"""Ready-made datasets: CSV files, folders of images (one sub-folder per class), and
scikit-learn's 8x8 digits."""
import csv
import os

import numpy as np

from engine.data.dataset import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".npy")


def from_csv(path, label_column=None, delimiter=",", dtype="float32"):
    """A Dataset of (features, label) rows from a numeric CSV file with a header row.

    Features are the non-label columns as one `dtype` vector per row; labels are int32 when
    every label is a whole number, else `dtype`. Without label_column, rows are features only.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"Error in from_csv: '{path}' is empty")
        rows = [row for row in reader if row]
    header = [name.strip() for name in header]
    if label_column is not None and label_column not in header:
        raise ValueError(f"Error in from_csv: label column '{label_column}' not in the header "
                         f"{header}")
    values = np.empty((len(rows), len(header)), dtype=np.float64)
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"Error in from_csv: line {line} of '{path}' has {len(row)} "
                             f"fields, the header has {len(header)}")
        for column, field in enumerate(row):
            try:
                values[line - 2, column] = float(field)
            except ValueError:
                raise ValueError(f"Error in from_csv: line {line}, column '{header[column]}' "
                                 f"of '{path}' is not a number: {field!r}") from None
    if label_column is None:
        return Dataset.from_tensor_slices(values.astype(dtype))
    label_index = header.index(label_column)
    labels = values[:, label_index]
    features = np.delete(values, label_index, axis=1).astype(dtype)
    whole = np.all(labels == np.round(labels))
    labels = labels.astype(np.int32) if whole else labels.astype(dtype)
    return Dataset.from_tensor_slices((features, labels))


def _read_image(path):
    """An image as float32 in [0, 1] (H, W, C): .npy directly, others through Pillow, or PNG
    through matplotlib when Pillow is not installed."""
    if path.lower().endswith(".npy"):
        image = np.load(path)
        image = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    else:
        try:
            from PIL import Image
        except ImportError:
            if not path.lower().endswith(".png"):
                raise ImportError(f"Reading '{path}' needs Pillow (pip install pillow); "
                                  "without it only .png and .npy images can be read") from None
            from matplotlib.image import imread

            image = imread(path).astype(np.float32)  # PNG: already floats in [0, 1]
        else:
            with Image.open(path) as opened:
                image = np.asarray(opened, dtype=np.float32) / 255.0
    return image[:, :, None] if image.ndim == 2 else image


def _fit_channels(image, channels, path):
    have = image.shape[-1]
    if have == channels:
        return image
    if channels == 1:
        return image[..., :3].mean(axis=-1, keepdims=True)
    if channels == 3 and have == 1:
        return np.repeat(image, 3, axis=-1)
    if channels == 3 and have == 4:
        return image[..., :3]
    raise ValueError(f"Error in image_folder: cannot turn {have} channels into {channels} "
                     f"for '{path}'")


def _resize(image, size, path):
    if image.shape[:2] == tuple(size):
        return image
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"Resizing '{path}' from {image.shape[:2]} to {tuple(size)} needs "
                          "Pillow (pip install pillow)") from None
    channels = [np.asarray(Image.fromarray(image[..., c]).resize(size[::-1], Image.BILINEAR))
                for c in range(image.shape[-1])]
    return np.stack(channels, axis=-1).astype(np.float32)


def image_folder(path, image_size=None, color_mode="rgb", shuffle=False, seed=None):
    """A Dataset of (image float32 in [0, 1], label int32) from path/<class>/<image>.

    Classes are the sub-folders in sorted order (the dataset's `class_names`). Images are
    resized to image_size (height, width) when given; color_mode is "rgb", "rgba" or
    "grayscale".
    """
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(color_mode)
    if channels is None:
        raise ValueError(f"Error in image_folder: color_mode must be 'rgb', 'rgba' or "
                         f"'grayscale', got '{color_mode}'")
    class_names = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    files = [(os.path.join(path, name, file), label)
             for label, name in enumerate(class_names)
             for file in sorted(os.listdir(os.path.join(path, name)))
             if file.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise ValueError(f"Error in image_folder: no images ({', '.join(IMAGE_EXTENSIONS)}) "
                         f"in class sub-folders of '{path}'")
    images = []
    for file, _ in files:
        image = _fit_channels(_read_image(file), channels, file)
        if image_size is not None:
            image = _resize(image, image_size, file)
        images.append(image)
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(f"Error in image_folder: images have different shapes {sorted(shapes)}"
                         "; pass image_size to resize them")
    labels = np.array([label for _, label in files], dtype=np.int32)
    dataset = Dataset.from_tensor_slices((np.stack(images), labels))
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset.class_names = class_names
    return dataset


def load_digits():
    """scikit-learn's 1,797 handwritten digits: x (n, 8, 8, 1) float32 in [0, 1], y int32."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'engine[examples]'") \
            from None
    digits = sklearn_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return x, digits.target.astype(np.int32)
