"""NumPy fused optimizer updates: Keras's formulas computed in place on their fresh outputs.

Each update allocates only its outputs and runs every step of the formula in place on them
(ufuncs with a positional out, which parses faster than out=), so it makes no temporaries and
float32 stays float32 (Nesterov momentum needs one temporary). The inputs are never
written.
"""
import numpy as np

from engine.registry import register_kernel


@register_kernel("ApplyAdam", "numpy")
def apply_adam(variable, gradient, m, v, alpha, beta_1, beta_2, epsilon):
    new_m = np.subtract(gradient, m)
    new_m *= 1 - beta_1
    new_m += m
    new_v = np.square(gradient)
    new_v -= v
    new_v *= 1 - beta_2
    new_v += v
    new_variable = np.sqrt(new_v)
    new_variable += epsilon
    np.divide(new_m, new_variable, new_variable)
    new_variable *= alpha
    np.subtract(variable, new_variable, new_variable)
    return new_variable, new_m, new_v


@register_kernel("ApplyMomentum", "numpy")
def apply_momentum(variable, gradient, m, learning_rate, momentum, nesterov):
    new_variable = np.multiply(gradient, learning_rate)  # lr g until the last step
    new_m = np.multiply(m, momentum)
    new_m -= new_variable
    if nesterov:  # w + (momentum m' - lr g): one temporary for momentum m'
        np.subtract(np.multiply(new_m, momentum), new_variable, new_variable)
        new_variable += variable
    else:
        np.add(variable, new_m, new_variable)
    return new_variable, new_m


@register_kernel("ApplyRMSProp", "numpy")
def apply_rmsprop(variable, gradient, v, learning_rate, rho, epsilon):
    new_v = np.multiply(v, rho)
    step = np.square(gradient)  # g^2 (1 - rho), then the new variable
    step *= 1 - rho
    new_v += step
    np.add(new_v, epsilon, step)
    np.sqrt(step, step)
    np.divide(gradient, step, step)
    step *= learning_rate
    np.subtract(variable, step, step)
    return step, new_v
