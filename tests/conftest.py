"""Suite-wide test settings and fixtures.

Hypothesis' per-example deadline is a timing assertion; timing belongs in benchmarks/, and this
suite runs on shared, noisy machines, so the deadline is off for every property test.
"""

import pytest
from hypothesis import settings

settings.register_profile("bidvis", deadline=None)
settings.load_profile("bidvis")


@pytest.fixture
def ideal_arm(monkeypatch):
    """The ideal simulated arm as the default, on request: for the tests of the virtual servos'
    firmware and wire timing, which check exact values that the flaws (sim.flaws) would blur.
    A module asks for it with `pytestmark = pytest.mark.usefixtures("ideal_arm")`."""
    monkeypatch.setattr("sim.flaws.DEFAULT_PRESET", "ideal")
