"""How far the flawed default arm's readings (`sim.flaws.TYPICAL`) stray while the arm stands still,
in encoder ticks: the tests' "nothing moved" and "at rest", computed from the flaws, not guessed."""

from __future__ import annotations

import math

from firmware_bridge.control_table import RAD_PER_TICK
from sim.flaws import TYPICAL

# Two readings of a joint that stands still differ by the encoder noise of each (3 sigma each) and
# one position step.
NOISE_TICKS = math.ceil(2 * 3 * TYPICAL.encoder_noise_ticks + TYPICAL.position_step_ticks - 1)
# An arm coming to rest also seats its gears within their play.
REST_TICKS = NOISE_TICKS + math.ceil(TYPICAL.backlash_rad / RAD_PER_TICK)
NOISE_RAD = NOISE_TICKS * RAD_PER_TICK
