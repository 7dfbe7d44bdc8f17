"""Train a small CNN on scikit-learn's 8x8 handwritten digits and report test accuracy.

    python examples/train_digits.py --epochs 15 --seed 0 --output digits_output
    ENGINE_BACKEND=opencl python examples/train_digits.py

80/20 split with a fixed seed; writes training_curves.png, confusion_matrix.png and the
trained model (digits_cnn.keras) into the output folder.
"""
import argparse
import os
import time

import numpy as np

import engine
from engine import layers, models


def split(x, y, test_fraction=0.2, seed=0):
    """A seeded shuffle, then the last test_fraction of samples held out."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(round(len(x) * (1 - test_fraction)))
    train, test = order[:cut], order[cut:]
    return (x[train], y[train]), (x[test], y[test])


def build_model(seed=0):
    """Conv 16 (same) -> max pool -> conv 32 (valid) -> flatten -> dropout -> dense 10 logits."""
    initializer = engine.initializers.GlorotUniform
    return models.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu",
                      kernel_initializer=initializer(seed=seed)),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu", kernel_initializer=initializer(seed=seed + 1)),
        layers.Flatten(),
        layers.Dropout(0.2, seed=seed),
        layers.Dense(10, kernel_initializer=initializer(seed=seed + 2)),
    ], name="digits_cnn")


def train(epochs=15, seed=0, output="digits_output", verbose=1, batch_size=32):
    """Train, evaluate on the held-out 20%, write the plots; returns a dict of results."""
    np.random.seed(seed)        # fit's shuffling
    engine.set_seed(seed)       # random ops called without a seed
    x, y = engine.data.load_digits()
    (x_train, y_train), (x_test, y_test) = split(x, y, seed=seed)
    model = build_model(seed)
    model.compile(optimizer=engine.optimizers.Adam(learning_rate=0.005),
                  loss=engine.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_data=(x_test, y_test), verbose=verbose)
    seconds = time.perf_counter() - start
    predicted = model.predict(x_test, verbose=0).argmax(axis=-1)
    accuracy = float(np.mean(predicted == y_test))

    os.makedirs(output, exist_ok=True)
    engine.vis.plot_history(history, save_path=os.path.join(output, "training_curves.png"))
    engine.vis.plot_confusion_matrix(y_test, predicted, num_classes=10,
                                     save_path=os.path.join(output, "confusion_matrix.png"))
    model_path = os.path.join(output, "digits_cnn.keras")
    if hasattr(model, "save"):
        model.save(model_path)
    else:
        model_path = None
        print("Model not saved: this engine build has no model.save() yet.")
    return {"accuracy": accuracy, "seconds": seconds, "history": history.history,
            "model_path": model_path, "backend": engine.get_backend()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="digits_output")
    args = parser.parse_args()
    result = train(args.epochs, args.seed, args.output)
    print(f"Backend {result['backend']}: test accuracy {result['accuracy']:.2%} "
          f"({result['seconds']:.1f} s of training)")
    print(f"Plots written to {os.path.abspath(args.output)}"
          + (f"; model saved to {result['model_path']}" if result["model_path"] else ""))


if __name__ == "__main__":
    main()
