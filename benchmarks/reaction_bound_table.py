"""The table of docs/safety.md, "The physically impossible class": peak face force of a sneeze
against an arm that retreats at full servo torque `reaction` seconds after the onset
(`sim.reaction_bound`), by the spoon's gap to the lips, the sneeze's reach and its speed.

    .venv/bin/python benchmarks/reaction_bound_table.py

Not a pytest benchmark: it prints a Markdown table (about a minute of CPU).
"""

from __future__ import annotations

import itertools

from sim.reaction_bound import peak_face_force_with_ideal_retreat
from sim.scenario import CitizenEvent

GAPS_M = (0.005, 0.01, 0.02, 0.05)
DISTANCES_M = (0.02, 0.08)
SPEEDS_M_S = (0.3, 0.6, 1.0, 1.5)
REACTIONS_S = (0.0, 0.05, 0.1)
HEAD_MASS_KG = 4.5


def main() -> None:
    print(
        "| spoon gap to the lips (m) | sneeze reach (m) | head speed (m/s) | "
        + " | ".join(f"peak N, arm reacting after {r * 1000:.0f} ms" for r in REACTIONS_S)
        + " | head speed at contact, 50 ms (m/s) | head kinetic energy (J) |"
    )
    print("|---" * (5 + len(REACTIONS_S)) + "|")
    for gap, distance, speed in itertools.product(GAPS_M, DISTANCES_M, SPEEDS_M_S):
        event = CitizenEvent(kind="sneeze", at_s=0.0, distance_m=distance, speed_m_s=speed, duration_s=0.5)
        bounds = [peak_face_force_with_ideal_retreat(event, gap, reaction) for reaction in REACTIONS_S]
        contact = bounds[1].head_speed_m_s
        print(
            f"| {gap:.3f} | {distance:.2f} | {speed:.1f} | "
            + " | ".join(f"{b.peak_face_force_n:.1f}" for b in bounds)
            + f" | {contact:.2f} | {0.5 * HEAD_MASS_KG * contact**2:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
