"""An XM430-W350 emulator written from the ROBOTIS e-Manual alone, apart from bidvis's own code
(it imports the standard library only): test infrastructure to show that what bidvis does on its
servo bus works on any faithful emulator, not only on `bidvis sim-bus`.

`python -m tests.xm430_emulator --link PATH --ids 11,12,13,14` serves the servos on a pty.
Modules: `wire` (Protocol 2.0 packets), `table` (the control table), `physics` (a joint driven
by the servo), `servo` (instructions, Bus Watchdog, the bus), `pty_server`.

Not modelled: operating modes other than position and current-based position, reverse drive and
time-based profiles (refused with Data Range Error), Bulk/Fast/Reg Write/Action/Factory Reset/Clear
instructions (Instruction Error), the feedforward and velocity gains (stored only), temperature and
input voltage (constant 30 degC, 12.0 V), lost or corrupted replies, backlash, USB latency.
"""
