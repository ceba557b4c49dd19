"""The spoon's Jacobian: closed form (`kinematics.spoon_jacobian`) against central differences of
`forward_spoon` (what `controller.motion` computed before), side by side in one run.

    .venv/bin/python -m pytest benchmarks/bench_kinematics.py --benchmark-only -p no:randomly --benchmark-columns=min,median,mean,rounds
"""

from __future__ import annotations

import numpy as np

from controller.kinematics import SpoonOffset, forward_spoon, inverse_spoon, spoon_jacobian

SPOON = SpoonOffset(x_m=0.05)
Q = inverse_spoon((0.33, 0.0, 0.25), SPOON)  # the spoon in front of the demo citizen's mouth


def central_differences(q, spoon, step=1e-6):
    jacobian = np.empty((4, 4))
    for j in range(4):
        dq = np.zeros(4)
        dq[j] = step
        jacobian[:, j] = (forward_spoon(q + dq, spoon) - forward_spoon(q - dq, spoon)) / (2.0 * step)
    return jacobian


def test_spoon_jacobian_closed_form(benchmark):
    result = benchmark(spoon_jacobian, Q, SPOON)
    np.testing.assert_allclose(result, central_differences(Q, SPOON), atol=1e-7)


def test_spoon_jacobian_central_differences(benchmark):
    benchmark(central_differences, Q, SPOON)
