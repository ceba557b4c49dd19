"""Suite-wide test settings.

Hypothesis' per-example deadline is a timing assertion; timing belongs in benchmarks/, and this
suite runs on shared, noisy machines, so the deadline is off for every property test.
"""

from hypothesis import settings

settings.register_profile("bidvis", deadline=None)
settings.load_profile("bidvis")
