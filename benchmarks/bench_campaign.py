"""What a safety-campaign run costs, and what a campaign of 3,000 runs needs (issue 14, item 6).

Run: .venv/bin/python -m pytest benchmarks/bench_campaign.py --benchmark-only -s --benchmark-columns=min,median,mean,rounds
Results go to docs/benchmarks.md `## Safety campaign`.

- `test_campaign_run[ground_truth|vision]`: one run of the built-in `plain_meal` family (tuning seed
  7: one bite, everything about the citizen, seat, camera and calibration sampled), in this process,
  as a campaign worker runs it (`bidvis.campaign.run_planned`: the meal and its judgement). Each
  round prints the simulated seconds over the CPU seconds of the run (`time.process_time`, which
  the other jobs on a shared machine do not inflate): the real-time factor per core.
- `test_campaign_throughput`: the first `THROUGHPUT_RUNS` runs of a held-out-like plan on the
  tuning seeds (every family, one in five with vision) on 2 local worker processes; prints the
  mean CPU seconds per run and what 3,000 runs take on 2 cores that do nothing else.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bidvis.campaign import PlannedRun, SeedSplit, plan_runs, run_campaign, run_planned
from sim.families import load_families

SEED = 7
THROUGHPUT_RUNS = 22  # two of each built-in family
CAMPAIGN_RUNS = 3000
CORES = 2


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0] if Path("/proc/loadavg").is_file() else "?"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("vision", [False, True], ids=["ground_truth", "vision"])
def test_campaign_run(benchmark, vision):
    family = next(f for f in load_families() if f.name == "plain_meal")
    run = PlannedRun(0, family.name, SEED, vision)
    run_planned(run, family)  # imports, models and noise fields: paid once per worker, not per run
    factors = []

    def one_run() -> None:
        started = time.process_time()
        record = run_planned(run, family)
        factors.append((record.duration_s, time.process_time() - started))

    load_before = _load()
    benchmark.pedantic(one_run, rounds=3, iterations=1)
    sim_s = factors[0][0]
    cpu_s = sorted(cpu for _, cpu in factors)[len(factors) // 2]
    benchmark.extra_info.update(sim_s=sim_s, cpu_s_median=round(cpu_s, 3), realtime_factor_cpu=round(sim_s / cpu_s, 1))
    print(
        f"\n{'vision' if vision else 'ground truth'}: {sim_s:.1f} s simulated, CPU per run "
        f"{', '.join(f'{cpu:.2f}' for _, cpu in factors)} s; median {sim_s / cpu_s:.1f}x real time per core; "
        f"load average {load_before} -> {_load()}"
    )


@pytest.mark.timeout(3600)
def test_campaign_throughput(benchmark):
    families = load_families()
    plan = plan_runs(families, THROUGHPUT_RUNS, None, SeedSplit.TUNING)
    load_before = _load()
    records = benchmark.pedantic(run_campaign, args=(families, plan), kwargs={"workers": CORES}, rounds=1)
    cpu = [r.cpu_s for r in records]
    vision = [r.cpu_s for r in records if r.vision]
    ground = [r.cpu_s for r in records if not r.vision]
    mean = sum(cpu) / len(cpu)
    # the campaign's mix: one run in five with vision
    mixed = (sum(vision) / len(vision) + 4 * sum(ground) / len(ground)) / 5
    needed_min = CAMPAIGN_RUNS * mixed / CORES / 60
    benchmark.extra_info.update(
        runs=len(records), cpu_s_mean=round(mean, 3), cpu_s_mixed=round(mixed, 3), minutes_for_3000=round(needed_min, 1)
    )
    print(
        f"\n{len(records)} runs on {CORES} workers ({os.cpu_count()} cores): CPU per run {mean:.2f} s "
        f"(ground truth {sum(ground) / len(ground):.2f} s, vision {sum(vision) / len(vision):.2f} s); "
        f"at one run in five with vision {mixed:.2f} s, so {CAMPAIGN_RUNS} runs need {needed_min:.0f} min "
        f"on {CORES} cores that do nothing else; load average {load_before} -> {_load()}"
    )
