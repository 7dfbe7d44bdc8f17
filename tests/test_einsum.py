"""einsum: every equation form against numpy.einsum in float64 on every backend, gradients
against finite differences, random shapes, errors before any kernel, contraction by matmul."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import (check_forward, check_gradients, float64_supported, kernel_calls,
                           no_kernel_runs, random_array)

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),                 # matrix product
    ("ij,jk", [(2, 3), (3, 4)]),                     # implicit output
    ("ab,cb->ac", [(2, 3), (4, 3)]),                 # transposed right operand
    ("ba,bc->ac", [(3, 2), (3, 4)]),                 # transposed left operand
    ("ba", [(2, 3)]),                                # implicit output: a transpose
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),                              # sum of everything
    ("ij->j", [(2, 3)]),                             # sum over an index of one operand
    ("i->i", [(3,)]),
    ("...", [(2, 3)]),
    ("i,j->ij", [(3,), (4,)]),                       # outer product
    ("i,i->", [(5,)] * 2),                           # dot product
    ("ij,ij->ij", [(2, 3), (2, 3)]),                 # elementwise product
    ("ij,kl->", [(2, 3), (4, 5)]),                   # sums over indices of one operand each
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),        # batch dimension
    ("bqhd,bkhd->bhqk", [(2, 3, 4, 5), (2, 6, 4, 5)]),  # attention scores
    ("bhqk,bkhd->bqhd", [(2, 4, 3, 6), (2, 6, 4, 5)]),
    ("abc,cde->abde", [(2, 3, 4), (4, 5, 6)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),      # three operands
    ("a,a,a->a", [(4,)] * 3),
    (",ij->ij", [(), (2, 3)]),                       # a scalar operand
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),      # ellipsis: broadcast batch dimensions
    ("...ij,...jk->...ik", [(2, 3), (3, 4)]),        # ellipsis of rank 0
    ("i...,i...->...", [(2, 3), (2, 1)]),
    ("ab...,bc->ac...", [(2, 3, 4, 5), (3, 6)]),     # ellipsis on the right
    ("Ab,bC->AC", [(2, 3), (3, 4)]),                 # upper-case labels
    ("ii->i", [(3, 3)]),                             # diagonal
    ("ii", [(3, 3)]),                                # trace
    ("iij->j", [(2, 2, 4)]),
    ("iii->i", [(3, 3, 3)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("ij,jk->ki", [(0, 3), (3, 2)]),                 # empty dimensions
    ("ij,jk->ik", [(2, 0), (0, 3)]),
]


def _arrays(shapes, seed=0):
    return [random_array(shape, seed=seed + i).astype(np.float64) for i, shape in
            enumerate(shapes)]


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_numpy(backend, equation, shapes):
    dtype = "float64" if float64_supported(backend) else "float32"
    check_forward(lambda *xs: engine.einsum(equation, *xs),
                  lambda *xs: np.einsum(equation, *xs), _arrays(shapes), "matmul", dtype=dtype)


@pytest.mark.parametrize("equation, shapes", [
    (e, s) for e, s in EQUATIONS if all(0 not in shape for shape in s)],
    ids=[e for e, s in EQUATIONS if all(0 not in shape for shape in s)])
def test_einsum_gradients(backend, equation, shapes):
    check_gradients(lambda *xs: engine.einsum(equation, *xs), _arrays(shapes, seed=3), backend)


def test_einsum_promotes_dtypes_and_takes_integers(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = engine.einsum("ij,kj->ik", engine.tensor(a), engine.tensor(a))
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), np.einsum("ij,kj->ik", a, a))
    mixed = engine.einsum("ij,jk->ik", engine.tensor(a), engine.tensor(np.ones((3, 2),
                                                                               np.float32)))
    assert mixed.dtype == "float32"


def test_contractions_run_batch_matmul_and_nothing_elementwise_large(backend):
    a, b = engine.tensor(random_array((2, 3, 4))), engine.tensor(random_array((2, 4, 5)))
    with kernel_calls() as calls:
        engine.einsum("bij,bjk->bik", a, b)
    assert calls == ["BatchMatMul"]
    x, w = engine.tensor(random_array((2, 3, 4))), engine.tensor(random_array((4, 5, 6)))
    with kernel_calls() as calls:
        engine.einsum("abc,cde->abde", x, w)
    assert "BatchMatMul" in calls and "Mul" not in calls and "Sum" not in calls


@st.composite
def _family_case(draw):
    """An equation of one of a few families with random sizes (batch, free, summed axes)."""
    size = st.integers(1, 4)
    b, m, k, n = (draw(size) for _ in range(4))
    family = draw(st.sampled_from(["matmul", "batch", "ellipsis", "outer", "chain"]))
    if family == "matmul":
        return "ik,kj->ij", [(m, k), (k, n)]
    if family == "batch":
        return "bik,bjk->bji", [(b, m, k), (b, n, k)]
    if family == "ellipsis":
        lead = tuple(draw(st.lists(size, max_size=2)))
        short = tuple(d if draw(st.booleans()) else 1 for d in lead)[draw(st.integers(0, 2)):]
        return "...ik,...kj->...ij", [lead + (m, k), short + (k, n)]
    if family == "outer":
        return "i,jk->ikj", [(m,), (k, n)]
    return "ab,bc,cd->da", [(m, k), (k, n), (n, b)]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # backend is fixed per test
@given(case=_family_case(), seed=st.integers(0, 1000))
def test_property_einsum_matches_numpy(backend, case, seed):
    equation, shapes = case
    check_forward(lambda *xs: engine.einsum(equation, *xs),
                  lambda *xs: np.einsum(equation, *xs), _arrays(shapes, seed), "matmul")


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)],
     r"^Error in einsum: label 'j' has size 3 in operand 0 but 4 in operand 1 \(equation "
     r"'ij,jk->ik', operand shapes \(2, 3\), \(4, 5\)\)$"),
    ("ij,jk->ik", [(2, 3)], r"the equation has 2 operand terms but 1 operands were given"),
    ("ij->ik", [(2, 3)], r"output label 'k' appears in no operand"),
    ("ij->ii", [(2, 2)], r"output label 'i' appears more than once"),
    ("i2,jk", [(2, 3), (3, 4)], r"term 'i2' has the character '2'"),
    ("ij->i->j", [(2, 3)], r"'->' appears more than once"),
    ("ijk", [(2, 3)], r"operand 0 has rank 2 but its term 'ijk' names 3 axes"),
    ("i", [(2, 3)], r"operand 0 has rank 2 but its term 'i' names 1 axes"),
    ("...i...", [(2, 3)], r"term '...i...' has more than one '...'"),
    ("...i->i", [(2, 3)], r"the operands have axes under '...' but the output has no '...'"),
    ("...i,...i", [(2, 3), (4, 3)], r"axes under '...' of sizes 2 and 4 cannot be broadcast"),
    ("ii->i", [(2, 3)], r"label 'i' has size 2 in operand 0 but 3 in operand 0"),
], ids=str)
def test_einsum_errors_name_equation_and_shapes_before_any_kernel(backend, equation, shapes,
                                                                  message):
    tensors = [engine.tensor(np.ones(shape, np.float32)) for shape in shapes]
    with pytest.raises(ValueError, match=message), no_kernel_runs():
        engine.einsum(equation, *tensors)


def test_einsum_refuses_bool_and_non_string_equations(backend):
    flags = engine.tensor([[True, False]])
    with pytest.raises(TypeError, match=r"Error in einsum: expected numeric tensors, got bool"), \
            no_kernel_runs():
        engine.einsum("ij,kj->ik", flags, flags)
    with pytest.raises(TypeError, match="Error in einsum: the equation must be a string"):
        engine.einsum(["ij"], flags)
    with pytest.raises(ValueError, match="Error in einsum: equation 'ij' needs at least one"):
        engine.einsum("ij")
