"""Optimizers against float64 NumPy formulas written here, and against Keras 3 when installed."""
import math

import numpy as np
import pytest

import engine
from engine import optimizers
from engine.optimizers import schedules
from tests.helpers import keras_or_skip

STEPS = 4
SHAPES = [(3, 2), (2,)]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [rng.normal(0, 2.0, size=shape).astype(np.float32) for shape in SHAPES]


def _initial_values():
    rng = np.random.default_rng(7)
    return [rng.normal(0, 1.0, size=shape).astype(np.float32) for shape in SHAPES]


def run_engine(optimizer, steps=STEPS):
    variables = [engine.Variable(value, name=f"v{i}") for i, value in enumerate(_initial_values())]
    for step in range(steps):
        grads = [engine.tensor(g) for g in _gradients(step)]
        optimizer.apply_gradients(zip(grads, variables))
    return [v.numpy() for v in variables]


# ----------------------------------------------------------------- NumPy references (float64)

def _clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.linalg.norm(g), clipnorm) for g in grads]
    if global_clipnorm:
        total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return [g * global_clipnorm / max(total, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def reference(rule, lr=0.01, steps=STEPS, weight_decay=None, clip=None, **hyper):
    """Run `rule(state, g, w, lr, t, **hyper) -> new w` with a per-variable state dict."""
    weights = [v.astype(np.float64) for v in _initial_values()]
    states = [{} for _ in weights]
    for step in range(steps):
        rate = lr(step) if callable(lr) else lr
        grads = _clip([g.astype(np.float64) for g in _gradients(step)], **(clip or {}))
        if weight_decay:
            weights = [w - w * weight_decay * rate for w in weights]
        weights = [rule(state, g, w, rate, step + 1, **hyper)
                    for state, g, w in zip(states, grads, weights)]
    return weights


def sgd_rule(state, g, w, lr, t, momentum=0.0, nesterov=False):
    if momentum == 0:
        return w - lr * g
    m = state["m"] = momentum * state.get("m", 0.0) - lr * g
    return w + (momentum * m - lr * g if nesterov else m)


def adam_rule(state, g, w, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    m = state["m"] = beta_1 * state.get("m", 0.0) + (1 - beta_1) * g
    v = state["v"] = beta_2 * state.get("v", 0.0) + (1 - beta_2) * g * g
    if amsgrad:
        v = state["v_hat"] = np.maximum(state.get("v_hat", 0.0), v)
    m_hat_scale = math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - lr * m_hat_scale * m / (np.sqrt(v) + epsilon)


def adamax_rule(state, g, w, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = state["m"] = beta_1 * state.get("m", 0.0) + (1 - beta_1) * g
    u = state["u"] = np.maximum(beta_2 * state.get("u", 0.0), np.abs(g))
    return w - lr * m / ((1 - beta_1 ** t) * (u + epsilon))


def rmsprop_rule(state, g, w, lr, t, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    v = state["v"] = rho * state.get("v", 0.0) + (1 - rho) * g * g
    if centered:
        mg = state["mg"] = rho * state.get("mg", 0.0) + (1 - rho) * g
        step = lr * g / np.sqrt(v - mg * mg + epsilon)
    else:
        step = lr * g / np.sqrt(v + epsilon)
    if momentum > 0:
        step = state["m"] = momentum * state.get("m", 0.0) + step
    return w - step


def adagrad_rule(state, g, w, lr, t, initial_accumulator_value=0.1, epsilon=1e-7):
    a = state["a"] = state.get("a", initial_accumulator_value) + g * g
    return w - lr * g / np.sqrt(a + epsilon)


def adadelta_rule(state, g, w, lr, t, rho=0.95, epsilon=1e-7):
    eg = state["eg"] = rho * state.get("eg", 0.0) + (1 - rho) * g * g
    delta = -np.sqrt(state.get("ed", 0.0) + epsilon) * g / np.sqrt(eg + epsilon)
    state["ed"] = rho * state.get("ed", 0.0) + (1 - rho) * delta * delta
    return w + lr * delta


CASES = {
    "sgd": (optimizers.SGD, sgd_rule, {}),
    "sgd_momentum": (optimizers.SGD, sgd_rule, {"momentum": 0.9}),
    "sgd_nesterov": (optimizers.SGD, sgd_rule, {"momentum": 0.8, "nesterov": True}),
    "adam": (optimizers.Adam, adam_rule, {}),
    "adam_amsgrad": (optimizers.Adam, adam_rule, {"amsgrad": True, "beta_2": 0.9}),
    "adamax": (optimizers.Adamax, adamax_rule, {"beta_1": 0.8}),
    "rmsprop": (optimizers.RMSprop, rmsprop_rule, {}),
    "rmsprop_momentum_centered": (optimizers.RMSprop, rmsprop_rule,
                                  {"momentum": 0.5, "centered": True}),
    "adagrad": (optimizers.Adagrad, adagrad_rule, {}),
    "adadelta": (optimizers.Adadelta, adadelta_rule, {"rho": 0.9}),
}


def _assert_close(got, want, rtol=2e-5, atol=2e-6):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.astype(np.float64), w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_rules_match_numpy(backend, case):
    cls, rule, hyper = CASES[case]
    lr = 0.5 if cls is optimizers.Adadelta else 0.01
    _assert_close(run_engine(cls(learning_rate=lr, **hyper)), reference(rule, lr, **hyper))


def test_adamw_decays_weights_before_the_adam_step(backend):
    got = run_engine(optimizers.AdamW(learning_rate=0.05, weight_decay=0.1))
    _assert_close(got, reference(adam_rule, 0.05, weight_decay=0.1))


@pytest.mark.parametrize("clip", [{"clipnorm": 0.5}, {"clipvalue": 0.3},
                                  {"global_clipnorm": 1.0}])
def test_gradient_clipping(backend, clip):
    got = run_engine(optimizers.SGD(learning_rate=0.1, momentum=0.5, **clip))
    _assert_close(got, reference(sgd_rule, 0.1, clip=clip, momentum=0.5))


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="only one of clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)


@pytest.mark.parametrize("schedule, formula", [
    (schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5),
     lambda s: 0.1 * 0.5 ** (s / 2)),
    (schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True),
     lambda s: 0.1 * 0.5 ** (s // 2)),
    (schedules.CosineDecay(0.1, decay_steps=3, alpha=0.1),
     lambda s: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 3) / 3)) + 0.1)),
    (schedules.CosineDecay(0.0, decay_steps=2, warmup_target=0.2, warmup_steps=2),
     lambda s: 0.1 * s if s < 2 else 0.2 * 0.5 * (1 + math.cos(math.pi * min(s - 2, 2) / 2))),
])
def test_schedules_drive_the_learning_rate(backend, schedule, formula):
    for step in range(6):
        assert schedule(step) == pytest.approx(formula(step), rel=1e-12, abs=1e-15)
    optimizer = optimizers.SGD(learning_rate=schedule)
    _assert_close(run_engine(optimizer), reference(sgd_rule, formula))
    assert optimizer.learning_rate == pytest.approx(formula(STEPS), rel=1e-6)


def test_variables_are_listed_in_keras_order(backend):
    optimizer = optimizers.Adam(amsgrad=True)
    run_engine(optimizer, steps=1)
    names = [v.name for v in optimizer.variables()]
    assert names == ["iteration", "learning_rate", "v0_momentum", "v0_velocity",
                     "v1_momentum", "v1_velocity", "v0_velocity_hat", "v1_velocity_hat"]
    assert int(optimizer.iterations) == 1
    rms = optimizers.RMSprop(momentum=0.5, learning_rate=schedules.ExponentialDecay(0.1, 2, 0.5))
    run_engine(rms, steps=1)
    assert [v.name for v in rms.variables()] == ["iteration", "v0_velocity", "v1_velocity",
                                                 "v0_momentum", "v1_momentum"]


def test_slots_are_created_lazily_for_new_variables(backend):
    optimizer = optimizers.SGD(momentum=0.9)
    first = engine.Variable(np.ones(2, np.float32), name="a")
    optimizer.apply_gradients([(engine.ones((2,)), first)])
    second = engine.Variable(np.ones(3, np.float32), name="b")
    optimizer.apply_gradients([(engine.ones((2,)), first), (engine.ones((3,)), second)])
    assert [v.name for v in optimizer.variables()][2:] == ["a_momentum", "b_momentum"]
    np.testing.assert_allclose(second.numpy(), 1 - 0.01 * np.ones(3), rtol=1e-6)


def test_bad_gradient_shape_is_reported_before_any_change(backend):
    optimizer = optimizers.Adam()
    variable = engine.Variable(np.ones(2, np.float32), name="w")
    with pytest.raises(ValueError, match="gradient shape \\(3,\\) does not match variable 'w'"):
        optimizer.apply_gradients([(engine.ones((3,)), variable)])
    assert int(optimizer.iterations) == 0 and optimizer.variables()[2:] == []


def test_learning_rate_can_be_set():
    optimizer = optimizers.get("rmsprop")
    optimizer.learning_rate = 0.25
    assert optimizer.learning_rate == 0.25
    with pytest.raises(TypeError, match="schedule"):
        optimizers.SGD(schedules.CosineDecay(0.1, 10)).learning_rate = 0.1


def test_get_and_config_round_trip():
    for name in ("sgd", "adam", "adamw", "adamax", "rmsprop", "adagrad", "adadelta"):
        optimizer = optimizers.get(name)
        rebuilt = optimizers.get(optimizers.serialize(optimizer))
        assert type(rebuilt) is type(optimizer)
        assert rebuilt.get_config() == optimizer.get_config()
    scheduled = optimizers.Adam(schedules.CosineDecay(0.1, 10, warmup_target=0.2,
                                                      warmup_steps=3))
    config = scheduled.get_config()
    assert config["learning_rate"]["class_name"] == "CosineDecay"
    assert optimizers.Adam.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="Unknown optimizer 'nope'"):
        optimizers.get("nope")
    with pytest.raises(ValueError, match="use_ema=True is not supported"):
        optimizers.Adam(use_ema=True)


# ----------------------------------------------------------------- against Keras 3

def _run_keras(optimizer):
    keras = keras_or_skip()
    variables = [keras.Variable(value) for value in _initial_values()]
    for step in range(STEPS):
        optimizer.apply_gradients(zip(_gradients(step), variables))
    return [np.asarray(v) for v in variables]


KERAS_CASES = sorted(CASES) + ["adamw", "clipnorm", "global_clipnorm", "schedule"]


def _both(case):
    keras = keras_or_skip()
    if case in CASES:
        cls, _, hyper = CASES[case]
        return cls(**hyper), getattr(keras.optimizers, cls.__name__)(**hyper)
    if case == "adamw":
        return optimizers.AdamW(0.05, weight_decay=0.1), keras.optimizers.AdamW(0.05, 0.1)
    if case == "schedule":
        ours = schedules.CosineDecay(0.1, 3, alpha=0.2, warmup_target=0.3, warmup_steps=2)
        theirs = keras.optimizers.schedules.CosineDecay(0.1, 3, alpha=0.2, warmup_target=0.3,
                                                        warmup_steps=2)
        return optimizers.Adam(ours), keras.optimizers.Adam(theirs)
    return optimizers.SGD(0.1, **{case: 0.7}), keras.optimizers.SGD(0.1, **{case: 0.7})


@pytest.mark.parametrize("case", KERAS_CASES)
def test_matches_keras(backend, case):
    ours, theirs = _both(case)
    # Keras evaluates 1 - beta_2 ** t in float32 (a relative error near 1e-5); we use float64.
    _assert_close(run_engine(ours), _run_keras(theirs), rtol=1e-4, atol=1e-5)
    keras_config = theirs.get_config()
    our_config = ours.get_config()
    assert set(our_config) == set(keras_config)
    assert [v.path.split("/")[-1].split("_")[-1] for v in theirs.variables] == \
        [v.name.split("_")[-1] for v in ours.variables()]


def test_the_step_counter_is_not_read_back_from_the_device_each_step(backend):
    variable = engine.Variable(np.ones(3, np.float32))
    optimizer = engine.optimizers.Adam()
    optimizer.apply_gradients([(engine.ones_like(variable), variable)])
    device = engine.runtime.backend(backend)
    before = dict(device.transfers)
    for _ in range(5):
        optimizer.apply_gradients([(engine.ones_like(variable), variable)])
    assert device.transfers["device_to_host"] == before["device_to_host"]
    assert optimizer.iterations.item() == 6 == int(optimizer.iterations.numpy())
    optimizer.iterations.assign(40)  # set from outside (a loaded file): read again
    optimizer.apply_gradients([(engine.ones_like(variable), variable)])
    assert optimizer.iterations.item() == 41
