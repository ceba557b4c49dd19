"""Choose the contact detector's gains on the tuning seeds: `python -m tests.controller.tune_contact`.

For each tuning seed: a meal without contact and meals with a 5 N push of the face against the
spoon while scooping, during the approach and at the mouth (`contact_trials`); and the first
`CAMPAIGN_MEALS` runs of the safety campaign's plan on its tuning seeds (other citizens, seats and
arms, in the MuJoCo world), judged until the citizen first touches the spoon. Each candidate
(sigmas, confirm ticks, baseline time constant, margin per rad/s of commanded joint speed) is
replayed on them. Printed per candidate: false alarms (meals without contact that alarmed, alarms
before a push or a touch) in the trials and in the campaign meals, and the slowest detection (ms
from the push). The gains kept (controller/defaults/safety_limits.toml, ContactDetector) have no
false alarm on them nor on their neighbours in sigmas, the slowest detection within 20 ms, and at
least two ticks of confirmation (docs/controller.md, "Contact detection", has the run); the tests
judge them on the held-out seeds (tests/controller/test_contact_on_flawed_arm.py).
"""

from __future__ import annotations

import itertools
from functools import partial

from controller.config import demo_safety_limits
from controller.safety import ContactDetector, JointNoise
from tests.controller.contact_trials import (
    PERIOD_S,
    PUSHED_PHASES,
    TUNING_SEEDS,
    Push,
    campaign_plan,
    commissioned_noise,
    false_alarm,
    record_campaign_meal,
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
    campaign = [record_campaign_meal(run) for run in campaign_plan("tuning")]
    print(f"{len(campaign)} campaign meals: recorded", flush=True)
    uncommissioned = JointNoise.uniform(demo_safety_limits().uncommissioned_current_noise_ma / 1e3)
    for sigmas, confirm, tau, margin in itertools.product(
        (5.0, 6.0, 7.0), (1, 2, 3), (0.3, 1.0), (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    ):
        gains = {"confirm_ticks": confirm, "baseline_tau_s": tau, "speed_margin_a_per_rad_s": margin}
        false_alarms, slowest = 0, 0.0
        for noise, quiet, pushed in runs:
            detector = partial(ContactDetector, noise, sigmas, PERIOD_S, **gains)
            false_alarms += replay(quiet, detector()) is not None
            for trace in pushed:
                alarm = replay(trace, detector())
                if alarm is None or trace.push_from_s is None:
                    slowest = float("inf")
                elif alarm < trace.push_from_s:
                    false_alarms += 1
                else:
                    slowest = max(slowest, alarm - trace.push_from_s)
        false_in_campaign = sum(
            false_alarm(trace, ContactDetector(uncommissioned, sigmas, PERIOD_S, **gains)) for trace in campaign
        )
        print(
            f"sigmas {sigmas:.0f} confirm {confirm} tau {tau} s margin {margin} A per rad/s: false alarms "
            f"{false_alarms}, in campaign meals {false_in_campaign}, slowest {slowest * 1e3:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
