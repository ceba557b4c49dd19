"""Choose the contact detector's gains on the tuning seeds: `python -m tests.controller.tune_contact`.

For each tuning seed: a meal without contact and meals with a 5 N push of the face against the
spoon while scooping, during the approach and at the mouth (`contact_trials`); each candidate
(sigmas, confirm ticks, baseline time constant) is replayed on them. Printed per candidate: false
alarms (meals without contact that alarmed, or alarms before a push), and the slowest detection
(ms from the push). The gains kept (controller/defaults/safety_limits.toml, ContactDetector) have
no false alarm on them nor on their neighbours in sigmas, the slowest detection within 20 ms, and at
least two ticks of confirmation (docs/controller.md, "Contact detection", has the run); the tests
judge them on the held-out seeds (tests/controller/test_contact_on_flawed_arm.py).
"""

from __future__ import annotations

import itertools
from functools import partial

from controller.safety import ContactDetector
from tests.controller.contact_trials import (
    PERIOD_S,
    PUSHED_PHASES,
    TUNING_SEEDS,
    Push,
    commissioned_noise,
    record_meal,
    replay,
)


def main() -> None:
    runs = []
    for seed in TUNING_SEEDS:
        noise = commissioned_noise(seed)
        quiet = record_meal(seed, noise=noise)
        pushed = [record_meal(seed, Push(phase), noise=noise) for phase in PUSHED_PHASES]
        runs.append((noise, quiet, pushed))
        print(f"seed {seed}: recorded", flush=True)
    for sigmas, confirm, tau in itertools.product((4.0, 5.0, 6.0, 7.0, 8.0), (1, 2, 3), (0.3, 1.0)):
        false_alarms, slowest = 0, 0.0
        for noise, quiet, pushed in runs:
            detector = partial(ContactDetector, noise, sigmas, PERIOD_S, confirm_ticks=confirm, baseline_tau_s=tau)
            false_alarms += replay(quiet, detector()) is not None
            for trace in pushed:
                alarm = replay(trace, detector())
                if alarm is None or trace.push_from_s is None:
                    slowest = float("inf")
                elif alarm < trace.push_from_s:
                    false_alarms += 1
                else:
                    slowest = max(slowest, alarm - trace.push_from_s)
        print(
            f"sigmas {sigmas:.0f} confirm {confirm} tau {tau} s: false alarms {false_alarms}, slowest {slowest * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
