"""Accumulator-based optimizers: Adagrad and Adadelta, as in keras.optimizers."""
import engine
from engine.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """a += g^2; w -= lr g / sqrt(a + eps), with a starting at initial_accumulator_value."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ("accumulator",), self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self.slot(variable, "accumulator")
        accumulator.assign_add(engine.square(gradient))
        variable.assign_sub(gradient * learning_rate / engine.sqrt(accumulator + self.epsilon))

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """E[g^2] = rho E[g^2] + (1 - rho) g^2; d = -sqrt(E[d^2] + eps) g / sqrt(E[g^2] + eps);
    E[d^2] = rho E[d^2] + (1 - rho) d^2; w += lr d."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ("accumulated_grad", "accumulated_delta_var"))

    def update_step(self, gradient, variable, learning_rate):
        rho = self.rho
        grad_average = self.slot(variable, "accumulated_grad")
        delta_average = self.slot(variable, "accumulated_delta_var")
        grad_average.assign(grad_average * rho + engine.square(gradient) * (1 - rho))
        delta = -(engine.sqrt(delta_average + self.epsilon) * gradient
                  / engine.sqrt(grad_average + self.epsilon))
        delta_average.assign(delta_average * rho + engine.square(delta) * (1 - rho))
        variable.assign_add(delta * learning_rate)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
