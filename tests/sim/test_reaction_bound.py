"""The physical bound behind the campaign's impossible class: a sneeze that starts with the spoon
5-10 mm from the lips breaks 5 N even against an arm that retreats at full servo torque 50 ms after
the onset (sooner than a 30 fps camera with 40 ms latency can see it), while the same arm reacting
at the onset keeps the face untouched."""

import pytest

from sim.reaction_bound import peak_face_force_with_ideal_retreat
from sim.safety_report import ReportLimits
from sim.scenario import CitizenEvent

LIMIT_N = ReportLimits().peak_face_force_n


def _sneeze(distance_m: float, speed_m_s: float) -> CitizenEvent:
    return CitizenEvent(kind="sneeze", at_s=0.0, distance_m=distance_m, speed_m_s=speed_m_s, duration_s=0.5)


@pytest.mark.parametrize("speed_m_s", [0.6, 1.5])
def test_an_arm_retreating_at_the_onset_keeps_a_sneeze_off_the_face(speed_m_s):
    bound = peak_face_force_with_ideal_retreat(_sneeze(0.08, speed_m_s), spoon_gap_m=0.01, reaction_s=0.0)
    assert bound.peak_face_force_n < LIMIT_N


@pytest.mark.parametrize("gap_m", [0.005, 0.01])
@pytest.mark.parametrize("distance_m", [0.02, 0.08])
@pytest.mark.parametrize("speed_m_s", [0.6, 1.5])
def test_no_arm_learning_of_a_sneeze_at_the_lips_50_ms_late_keeps_it_under_the_limit(gap_m, distance_m, speed_m_s):
    bound = peak_face_force_with_ideal_retreat(_sneeze(distance_m, speed_m_s), spoon_gap_m=gap_m, reaction_s=0.05)
    assert bound.peak_face_force_n > LIMIT_N
    assert bound.head_speed_m_s > 0.0  # the head ran into the spoon
