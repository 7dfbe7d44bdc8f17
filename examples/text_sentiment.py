"""Classify variable-length "reviews" with a masked bidirectional GRU, then export for TF.js.

    python examples/text_sentiment.py --epochs 8 --seed 0 --output sentiment_output
    ENGINE_BACKEND=opencl python examples/text_sentiment.py

The reviews are made up here (nothing is downloaded): sequences of 4 to 20 word ids, where ids
1-10 are positive words, 11-20 negative ones and 21-49 neutral filler; a review is positive
when it has more positive than negative words. They are padded with id 0 to one length, and
Embedding(mask_zero=True) masks the padding, so the GRUs read each review's own words only.
Writes the model as a .keras file and as a TF.js web model (model.json + weights) for
tf.loadLayersModel in the browser or Node.
"""
import argparse
import os
import time

import numpy as np

import engine
from engine import layers

VOCABULARY, MAX_LENGTH = 50, 20
POSITIVE, NEGATIVE = range(1, 11), range(11, 21)


def make_reviews(count, seed=0):
    """(padded word ids (count, MAX_LENGTH) int32, labels (count,) 0/1); no ties."""
    rng = np.random.default_rng(seed)
    reviews, labels = [], []
    while len(reviews) < count:
        words = rng.integers(1, VOCABULARY, rng.integers(4, MAX_LENGTH + 1))
        positive, negative = np.isin(words, POSITIVE).sum(), np.isin(words, NEGATIVE).sum()
        if positive != negative:
            reviews.append(words)
            labels.append(int(positive > negative))
    return engine.utils.pad_sequences(reviews, MAX_LENGTH), np.array(labels, np.float32)


def build_model(seed=0):
    """Embedding (id 0 masked) -> Bidirectional GRU -> Dense sigmoid."""
    initializer = engine.initializers.GlorotUniform
    return engine.Sequential([
        layers.Input((MAX_LENGTH,), dtype="int32"),
        layers.Embedding(VOCABULARY, 16, mask_zero=True,
                         embeddings_initializer=engine.initializers.RandomUniform(
                             -0.05, 0.05, seed=seed)),
        layers.Bidirectional(layers.GRU(16, reset_after=False,  # TF.js's GRU
                                        kernel_initializer=initializer(seed=seed + 1))),
        layers.Dense(1, activation="sigmoid", kernel_initializer=initializer(seed=seed + 2)),
    ], name="sentiment")


def train(epochs=8, seed=0, output="sentiment_output", verbose=1, samples=2000):
    """Train on 80% of the reviews, evaluate on the rest, save both files; returns results."""
    np.random.seed(seed)
    engine.set_seed(seed)
    x, y = make_reviews(samples, seed)
    cut = int(0.8 * samples)
    model = build_model(seed)
    model.compile(optimizer=engine.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x[:cut], y[:cut], batch_size=64, epochs=epochs,
                        validation_data=(x[cut:], y[cut:]), verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean((model.predict(x[cut:], verbose=0)[:, 0] > 0.5) == y[cut:]))
    os.makedirs(output, exist_ok=True)
    model.save(os.path.join(output, "sentiment.keras"))
    model.save(os.path.join(output, "web_model"))  # a folder: TF.js's layers format
    return {"accuracy": accuracy, "seconds": seconds, "history": history.history,
            "backend": engine.get_backend()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="sentiment_output")
    args = parser.parse_args()
    result = train(args.epochs, args.seed, args.output)
    print(f"Backend {result['backend']}: test accuracy {result['accuracy']:.2%} after "
          f"{result['seconds']:.1f} s of training; models in {args.output}/")


if __name__ == "__main__":
    main()
