"""Traced steps (engine.tracing): a replay computes what an eager run computes, reading inputs,
variables and fresh random seeds anew; what cannot be replayed stays eager, with the reason.
Model training traced by default must give run_eagerly=True's results to the bit."""
import numpy as np
import pytest

import engine
from engine import layers
from engine.tracing import Traces
from tests.helpers import random_array


def traced_calls(function, arg_batches, variables=()):
    """function's outputs (as NumPy) for each batch of args, through one Traces."""
    traces = Traces()
    results = []
    for args in arg_batches:
        tensors = [engine.tensor(a) for a in args]
        outputs, _ = traces.run(lambda *t: (function(*t), None), tensors, "key", variables)
        results.append([o.numpy() for o in outputs])
    return traces, results


def test_replay_reads_new_inputs_variables_and_random_seeds(backend):
    w = engine.Variable(random_array((4, 3), seed=1, low=0.1))

    def function(x):
        hidden = engine.relu(engine.matmul(x, w))
        return [engine.dropout(hidden, 0.5), hidden]

    batches = [[random_array((2, 4), seed=s, low=0.1)] for s in range(4)]
    engine.set_seed(7)
    expected = []
    for step, (x,) in enumerate(batches):
        w.assign(w + 0.5 * step)  # the replay must read the variable's value of the moment
        expected.append([o.numpy() for o in function(engine.tensor(x))])
    w.assign(random_array((4, 3), seed=1, low=0.1))
    engine.set_seed(7)
    traces = Traces()
    for step, (x,) in enumerate(batches):
        w.assign(w + 0.5 * step)
        outputs, _ = traces.run(lambda t: (function(t), None), [engine.tensor(x)], "k", [w])
        for got, want in zip(outputs, expected[step]):
            np.testing.assert_array_equal(got.numpy(), want)
    assert len(traces) == 1 and not traces.eager
    # fresh seeds at every replay: the dropout masks of the last two steps differ
    masks = [e[0] != 0 for e in expected[2:]]
    assert (masks[0] != masks[1]).any()


def test_a_new_input_shape_gets_its_own_trace():
    traces, results = traced_calls(lambda x: [engine.sum(x * x, axis=1)],
                                   [[random_array((n, 3), seed=n)] for n in (2, 2, 2, 5, 5, 5, 2)])
    for result, n in zip(results, (2, 2, 2, 5, 5, 5, 2)):
        x = random_array((n, 3), seed=n).astype(np.float64)
        np.testing.assert_allclose(result[0], (x * x).sum(axis=1), rtol=1e-6)
    assert len(traces) == 2


def test_host_reads_and_new_variables_keep_a_function_eager():
    def branching(x):  # Python decides on a computed value: a replay could not
        return [x * 2.0] if float(engine.sum(x)) > 0 else [x * -1.0]

    batches = [[np.full((2,), v, np.float32)] for v in (1, 1, -1, -1, 1)]
    traces, results = traced_calls(branching, batches)
    for (x,), (got,) in zip(batches, results):
        np.testing.assert_array_equal(got, x * 2 if x.sum() > 0 else -x)
    assert len(traces) == 0 and list(traces.eager.values()) == [
        "it reads a computed value on the host"]

    traces, _ = traced_calls(lambda x: [x + engine.Variable(np.ones(2, np.float32))],
                             [[np.zeros(2, np.float32)]] * 3)
    assert len(traces) == 0 and list(traces.eager.values()) == ["it creates a variable"]


def _fit_twins(build, x, y, compile_kwargs, fit_kwargs, rtol=0.0):
    """History and weights of the same model fitted eagerly and traced: equal to the bit,
    or to `rtol` where the trace was rewritten (sums then run over other memory layouts).
    Returns the traced model."""
    runs = []
    for run_eagerly in (True, False):
        engine.utils.set_random_seed(3)  # weights, shuffling and random ops alike
        layers.clear_session()
        model = build()
        model.compile(**compile_kwargs, run_eagerly=run_eagerly)
        history = model.fit(x, y, verbose=0, **fit_kwargs)
        runs.append((history.history, model.get_weights(), model))
    (eager_history, eager_weights, _), (traced_history, traced_weights, model) = runs
    assert len(model._step_traces) >= 1, "no step was replayed"
    for name, values in eager_history.items():
        np.testing.assert_allclose(traced_history[name], values, rtol=rtol)
    for traced, eager in zip(traced_weights, eager_weights):
        np.testing.assert_allclose(traced, eager, rtol=rtol, atol=rtol * 1e-2)
    return model


def test_traced_fit_equals_eager_fit_with_dropout_batchnorm_noise_and_regularizers(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    y = rng.integers(0, 3, 96)

    def build():
        return engine.Sequential([
            layers.Input((6,)),
            layers.Dense(16, activation="relu", kernel_regularizer="l2",
                         activity_regularizer="l1"),
            layers.Dropout(0.3, seed=5), layers.BatchNormalization(), layers.GaussianNoise(0.1),
            layers.Dropout(0.2), layers.Dense(3, activation="softmax")])

    _fit_twins(build, x, y, {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                             "metrics": ["accuracy"]},
               {"batch_size": 20, "epochs": 3, "validation_split": 0.2})


def test_traced_fit_equals_eager_fit_with_masks_and_several_outputs(backend):
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 20, (40, 7))
    tokens[:, 5:] = 0  # padding, masked by Embedding(mask_zero=True)
    side = rng.normal(size=(40, 2)).astype(np.float32)
    y_class, y_value = rng.integers(0, 2, (40, 7)), rng.normal(size=(40, 1)).astype(np.float32)

    def build():
        words = layers.Input((7,), name="words")
        extra = layers.Input((2,), name="extra")
        hidden = layers.Embedding(20, 4, mask_zero=True)(words)
        sequence = layers.LSTM(5, return_sequences=True)(hidden)
        per_step = layers.Dense(2, activation="softmax", name="per_step")(sequence)
        pooled = layers.GlobalAveragePooling1D()(sequence)
        value = layers.Dense(1, name="value")(layers.Concatenate()([pooled, extra]))
        return engine.Model([words, extra], [per_step, value])

    _fit_twins(build, [tokens, side], [y_class, y_value],
               {"optimizer": "sgd", "loss": ["sparse_categorical_crossentropy", "mse"],
                "loss_weights": [1.0, 0.5], "metrics": [["accuracy"], ["mae"]]},
               {"batch_size": 16, "epochs": 3,
                "sample_weight": rng.uniform(0.5, 1.5, 40).astype(np.float32)})


def test_freezing_a_layer_between_fits_retraces(backend):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.normal(size=(32, 1))
    results = []
    for run_eagerly in (True, False):
        engine.utils.set_random_seed(1)
        model = engine.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])
        model.compile("sgd", "mse", run_eagerly=run_eagerly)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.layers[0].trainable = False
        frozen = model.layers[0].get_weights()
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        for before, after in zip(frozen, model.layers[0].get_weights()):
            np.testing.assert_array_equal(before, after)
        results.append(model.get_weights())
    for eager, traced in zip(*results):
        np.testing.assert_array_equal(eager, traced)


def test_a_model_whose_call_reads_the_host_trains_eagerly(backend):
    class Gate(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0 if float(engine.mean(inputs)) > 0 else inputs

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(24, 3)).astype(np.float32), rng.normal(size=(24, 1))
    model = engine.Sequential([layers.Input((3,)), Gate(), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(model._step_traces) == 0
    assert set(model._step_traces.eager.values()) == {"it reads a computed value on the host"}


@pytest.mark.parametrize("run_eagerly", [True, False])
def test_run_eagerly_is_kept_as_keras_keeps_it(run_eagerly):
    model = engine.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse", run_eagerly=run_eagerly)
    assert model.run_eagerly is run_eagerly


def test_predict_and_evaluate_replay_and_a_changed_stack_retraces(backend):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 5)).astype(np.float32), rng.normal(size=(50, 2))
    engine.utils.set_random_seed(2)
    model = engine.Sequential([layers.Input((5,)), layers.Dense(4, activation="tanh"),
                               layers.Dropout(0.5), layers.Dense(2)])
    model.compile("sgd", "mse")
    k1, b1, _, _ = model.get_weights()

    def expected(x):
        outputs = np.tanh(x.astype(np.float64) @ k1 + b1)
        for layer in model.layers[2:]:
            k, b = layer.get_weights()
            outputs = outputs @ k + b
        return outputs

    for _ in range(3):  # eager, recorded, replayed; batches of 16 and a last one of 2
        np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), expected(x),
                                   rtol=1e-5, atol=1e-6)
        loss = model.evaluate(x, y, batch_size=16, verbose=0)
        np.testing.assert_allclose(loss, ((expected(x) - y) ** 2).mean(), rtol=1e-5)
    assert len(model._step_traces) == 4  # predict and evaluate, each for two batch sizes
    model.add(layers.Dense(2, name="added"))
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), expected(x),
                               rtol=1e-5, atol=1e-6)


def test_relu_mask_moves_before_max_pool_gradients_with_the_same_results(backend):
    """A Conv-ReLU-MaxPool block's ReluGrad(MaxPoolGrad(...)) replays as MaxPoolGrad of the
    masked pooled gradient: fits equal eager ones, for tiling and overlapping windows."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(24, 9, 9, 2)).astype(np.float32), rng.integers(0, 3, 24)

    def build():
        return engine.Sequential([
            layers.Input((9, 9, 2)), layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(3, 1), layers.ReLU(),
            layers.MaxPooling2D(3, strides=1, padding="same"), layers.Flatten(),
            layers.Dense(3, activation="softmax")])

    _fit_twins(build, x, y, {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy"},
               {"batch_size": 8, "epochs": 2}, rtol=1e-5)


def test_rewritten_trace_masks_and_sums_the_pooled_gradient(backend):
    kernels = engine.runtime.backend(backend).kernels
    w = engine.Variable(random_array((1, 2, 2, 3), seed=2))
    b = engine.Variable(random_array((3,), seed=5))

    def gradients(x):
        with engine.GradientTape() as tape:
            tape.watch(x)
            loss = engine.sum(engine.max_pool2d(engine.relu(x + b), 2) * w)
        return tape.gradient(loss, [x, b])

    traces = Traces()
    for seed in range(3):
        x = engine.tensor(random_array((2, 4, 4, 3), seed=seed))
        outputs, _ = traces.run(lambda t: (gradients(t), None), [x], "k", [w, b])
        for got, want in zip(outputs, gradients(x)):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    (trace, _), = [entry for entry in traces._traces.values() if entry]
    functions = [step[0] for step in trace.steps]
    relu_grad = functions.index(kernels["ReluGrad"])
    assert relu_grad < functions.index(kernels["MaxPoolGrad"])
    masked_pooled_gradient = trace.steps[relu_grad][3]
    bias_sum = [step for step in trace.steps if step[0] is kernels["Sum"]
                and step[2]["axis"] == (0, 1, 2)]
    assert [step[1] for step in bias_sum] == [(masked_pooled_gradient,)]


def _ops_of(trace, backend):
    """(op name, attrs) of each step of `trace` (None for a step that runs no kernel)."""
    names = {kernel: op for op, kernel in engine.runtime.backend(backend).kernels.items()}
    return [(names.get(step[0]), step[2]) for step in trace.steps]


def _ops_in_training_trace(model, backend):
    """_ops_of `model`'s (one) training trace."""
    (trace, _), = [entry for signature, entry in model._step_traces._traces.items()
                   if entry and signature[0][0]]  # key: (training, ...)
    return _ops_of(trace, backend)


def test_relu_of_a_conv_block_runs_after_its_max_pool(backend):
    """FusedConv2D(relu) -> MaxPool replays as FusedConv2D(linear) -> MaxPool -> Relu where
    nothing else reads the convolution; a block whose output is also read elsewhere keeps its
    ReLU. Fits equal eager ones (the pooled ReLU gives the same values and gradients)."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(24, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 24)

    def build(branch):
        inputs = layers.Input((8, 8, 1))
        features = layers.Conv2D(4, 3, activation="relu")(inputs)
        pooled = layers.Flatten()(layers.MaxPooling2D(2)(features))
        if branch:  # the convolution's rectified output read twice
            pooled = layers.Concatenate()([pooled, layers.GlobalAveragePooling2D()(features)])
        return engine.Model(inputs, layers.Dense(3, activation="softmax")(pooled))

    for branch in (False, True):
        model = _fit_twins(lambda: build(branch), x, y,
                           {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
                           {"batch_size": 8, "epochs": 2}, rtol=1e-5)
        ops = _ops_in_training_trace(model, backend)
        conv = next(attrs for op, attrs in ops if op == "FusedConv2D")
        pool = [op for op, _ in ops].index("MaxPool")
        assert conv["activation"] == ("relu" if branch else "linear")
        assert (ops[pool + 1][0] == "Relu") is not branch


@pytest.mark.parametrize("metrics", [[], ["accuracy"]])
def test_a_training_trace_skips_predictions_nothing_reads(backend, metrics):
    """The loss takes a softmax output's logits; without metrics nothing reads the softmax,
    so the training trace drops it (TF's dead-code pruning), and keeps it with them."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.integers(0, 3, 32)
    model = _fit_twins(lambda: engine.Sequential([layers.Input((5,)),
                                                  layers.Dense(3, activation="softmax")]),
                       x, y, {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy",
                              "metrics": metrics}, {"batch_size": 8, "epochs": 2})
    assert ("Softmax" in [op for op, _ in _ops_in_training_trace(model, backend)]) is bool(
        metrics)


def test_unread_kernel_calls_are_dropped_but_random_draws_stay(backend):
    """A dropout whose output nothing reads leaves the trace, all but its random draw: the
    seed generator advances as in eager runs, so later random numbers are the same."""
    def function(x):
        engine.dropout(x, 0.5)
        return [x * 2.0]

    batches = [[random_array((3,), seed=s)] for s in range(4)]
    draws = []
    for traced in (False, True):
        engine.set_seed(11)
        if traced:
            traces, results = traced_calls(function, batches)
        else:
            results = [[o.numpy() for o in function(engine.tensor(x))] for x, in batches]
        draws.append(engine.random_uniform((5,)).numpy())
        for (x,), (got,) in zip(batches, results):
            np.testing.assert_array_equal(got, x * 2)
    np.testing.assert_array_equal(*draws)
    (trace, _), = [entry for entry in traces._traces.values() if entry]
    # the draw (its kernel wrapped to take a fresh seed) and the product; the mask is gone
    assert [op for op, _ in _ops_of(trace, backend)] == [None, "Mul"]


def test_calls_on_constants_run_once_when_the_trace_is_made(backend):
    """A chain of calls on constants alone (a full, divided and reshaped array) is computed
    when the trace is made; a random draw with a fresh seed still runs at every replay."""
    def function(x):
        scale = engine.reshape(engine.full((1, 3), 2.0) / 4.0, (3,))
        return [x * scale + engine.random_uniform((3,), 0.0, 1e-6)]

    batches = [[random_array((3,), seed=s)] for s in range(4)]
    traces, results = traced_calls(function, batches)
    for (x,), (got,) in zip(batches, results):
        np.testing.assert_allclose(got, x * 0.5, atol=2e-6)
    assert len({tuple(got - x * 0.5) for (x,), (got,) in zip(batches, results)}) == 4
    (trace, _), = [entry for entry in traces._traces.values() if entry]
    assert [op for op, _ in _ops_of(trace, backend)] == ["Mul", None, "Add"]  # None: the draw


def test_a_replay_drops_each_value_after_its_last_use():
    w = engine.Variable(random_array((3, 3), seed=4))

    def function(x):
        hidden = engine.tanh(engine.matmul(x, w))
        return [engine.sum(hidden * hidden), engine.exp(hidden)]

    traces = Traces()
    for _ in range(3):
        traces.run(lambda t: (function(t), None), [engine.tensor(random_array((2, 3)))], "k", [w])
    (trace, _), = [entry for entry in traces._traces.values() if entry]
    released = [slot for step in trace.steps for slot in step[4]]
    used = {slot for step in trace.steps for slot in step[1]}
    assert sorted(released) == sorted(set(released))  # each once
    assert used - set(trace.output_slots) <= set(released)  # every temporary is dropped
    assert not set(released) & set(trace.output_slots)
    for index, step in enumerate(trace.steps):  # nothing is read after it was dropped
        later = {slot for later_step in trace.steps[index + 1:] for slot in later_step[1]}
        assert not set(step[4]) & later


def test_kernels_of_other_threads_do_not_enter_the_trace(backend):
    """A data pipeline's prefetch thread runs kernels while a step records."""
    import threading

    kernels = engine.runtime.backend(backend).kernels
    other = engine.tensor(random_array((3,)))

    def function(x):
        worker = threading.Thread(target=lambda: engine.tanh(other).numpy())
        worker.start()
        worker.join()
        return [x * 2.0]

    traces = Traces()
    for _ in range(3):
        traces.run(lambda t: (function(t), None), [engine.tensor(random_array((3,)))], "k", [])
    (trace, _), = [entry for entry in traces._traces.values() if entry]
    assert [step[0] for step in trace.steps] == [kernels["Mul"]]


def test_traces_keep_the_latest_signatures_and_cycling_shapes_stay_unrecorded():
    from engine.tracing import MAX_TRACES

    def run(traces, length):
        x = engine.tensor(np.ones((length,), np.float32))
        outputs, _ = traces.run(lambda t: ([engine.sum(t * 2.0)], None), [x], "k", [])
        assert outputs[0].item() == 2.0 * length

    traces = Traces()
    for length in range(1, 3 * MAX_TRACES):
        for _ in range(3):  # eager, recorded, replayed
            run(traces, length)
        assert 0 < len(traces) <= MAX_TRACES
    cycling = Traces()
    for _ in range(3):
        for length in range(1, MAX_TRACES + 2):  # forgotten before seen again
            run(cycling, length)
    assert len(cycling) == 0


def test_a_subclassed_model_whose_layer_is_replaced_predicts_with_the_new_one():
    class Net(engine.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(4, activation="relu")
            self.head = layers.Dense(2)

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    x = random_array((6, 3))
    model = Net()
    for _ in range(3):
        model.predict(x, verbose=0)
    model.head = layers.Dense(1)
    for _ in range(3):
        predicted = model.predict(x, verbose=0)
        hidden = np.maximum(x @ model.hidden.kernel.numpy() + model.hidden.bias.numpy(), 0)
        np.testing.assert_allclose(predicted, hidden @ model.head.kernel.numpy()
                                   + model.head.bias.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make_optimizer", [
    lambda: engine.optimizers.Adam(0.1), lambda: engine.optimizers.SGD(0.1, momentum=0.9),
    lambda: engine.optimizers.RMSprop(0.1, clipnorm=0.5),
    lambda: engine.optimizers.Adam(engine.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5))])
def test_a_fused_optimizer_step_replays_as_it_runs(backend, make_optimizer):
    """Step counts, bias corrections, schedules and a learning rate set between steps are
    recomputed at each replay; slots, weights and iterations equal an eager twin's."""
    runs = []
    for traced in (False, True):
        w = engine.Variable(random_array((3, 2), seed=1))
        optimizer = make_optimizer()

        def step(x):
            with engine.GradientTape() as tape:
                loss = engine.sum(engine.square(engine.matmul(x, w)))
            optimizer.apply_gradients([(tape.gradient(loss, w), w)])
            return [loss]

        traces = Traces()
        for index in range(20):  # past a slot flush (every 16 steps)
            if index == 6 and not optimizer.uses_schedule:
                optimizer.learning_rate = 0.02
            x = engine.tensor(random_array((4, 3), seed=index))
            if traced:
                traces.run(lambda t: (step(t), None), [x], "k", [w, *optimizer.variables()])
            else:
                step(x)
        if traced:
            assert len(traces) == 1 and not traces.eager
        runs.append([w.numpy(), *(v.numpy() for v in optimizer.variables())])
    for eager, traced in zip(*runs):
        np.testing.assert_array_equal(traced, eager)
    assert runs[1][1] == 20  # iterations


def test_functions_applying_an_unfused_optimizer_or_reading_a_variable_stay_eager():
    w = engine.Variable(np.ones(2, np.float32))
    optimizer = engine.optimizers.AdamW(0.1)  # its weight decay factor would be frozen

    def step(x):
        with engine.GradientTape() as tape:
            loss = engine.sum(x * w)
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        return [loss]

    traces = Traces()
    for _ in range(4):
        traces.run(lambda t: (step(t), None), [engine.tensor(np.ones(2, np.float32))], "k", [w])
    assert len(traces) == 0 and "optimizer" in next(iter(traces.eager.values()))
    assert optimizer.iterations.item() == 4

    scale = engine.Variable(2.0)
    scale.item()  # its host value is now known: reading it again touches no device memory
    traces = Traces()
    for _ in range(3):
        traces.run(lambda t: ([t * scale.item()], None), [engine.tensor(np.ones(2, np.float32))],
                   "k", [scale])
    assert len(traces) == 0


@pytest.mark.parametrize("optimizer", [
    lambda: engine.optimizers.Adam(0.05, clipnorm=1.0),
    lambda: engine.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: engine.optimizers.RMSprop(0.01)])
def test_traced_fit_with_the_optimizer_in_the_trace_equals_eager_fit(backend, optimizer):
    """The optimizer's step is replayed too (fused updates): learning rates set by callbacks,
    constraints, clipping and the step counter stay as an eager fit has them."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(40, 5)).astype(np.float32), rng.normal(size=(40, 2))
    runs = []
    for run_eagerly in (True, False):
        engine.utils.set_random_seed(5)
        model = engine.Sequential([
            layers.Input((5,)), layers.Dense(6, activation="relu", kernel_constraint="max_norm"),
            layers.BatchNormalization(), layers.Dense(2)])
        model.compile(optimizer(), "mse", run_eagerly=run_eagerly)
        schedule = engine.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5)
        history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[schedule])
        runs.append((history.history, model.get_weights(),
                     [v.numpy() for v in model.optimizer.variables()]))
        if not run_eagerly:
            assert len(model._step_traces) >= 1 and not model._step_traces.eager
    (eager_history, *eager), (traced_history, *traced) = runs
    assert traced_history == eager_history
    for eager_arrays, traced_arrays in zip(eager, traced):
        for want, got in zip(eager_arrays, traced_arrays):
            np.testing.assert_array_equal(got, want)


def test_steps_of_two_threads_record_one_at_a_time_and_both_replay():
    import threading

    traces = [Traces(), Traces()]
    started, release = threading.Event(), threading.Event()

    def slow(t):  # records while the other thread tries to
        started.set()
        release.wait(5)
        return [t * 3.0]

    def run(index, function, calls):
        for _ in range(calls):
            x = engine.tensor(np.full(2, index + 1.0, np.float32))
            outputs, _ = traces[index].run(lambda t: (function(t), None), [x], "k", [])
            assert outputs[0].numpy().tolist() == (x.numpy() * 3.0).tolist()

    run(0, lambda t: [t * 3.0], 1)  # seen once: the next call records
    recorder = threading.Thread(target=run, args=(0, slow, 1))
    recorder.start()
    started.wait(5)
    run(1, lambda t: [t * 3.0], 3)  # meanwhile: eager, not recorded
    release.set()
    recorder.join()
    assert len(traces[0]) == 1 and len(traces[1]) == 0
    run(1, lambda t: [t * 3.0], 2)  # recorded now, then replayed
    assert len(traces[1]) == 1
