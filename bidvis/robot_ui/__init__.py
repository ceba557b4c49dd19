"""The robot's own web app: staff set the robot up in a browser, the citizen eats with a panel.

- `session.RobotSession`: the robot behind the pages, one part per job (`documents`, `arm_control`,
  `calibration`, `profile`, `meal`);
- `arm.ArmDriver`: hold-to-move jogging and pose moves with a stop, one jog owner at a time (it runs
  in the set-up process, `bidvis.motion_runtime.setup_worker`, not in the web server's);
- `app.create_app(session)`: FastAPI app with server-rendered pages (`/staff`, `/panel`) and a
  small JSON API under `/api` that the pages' vanilla JavaScript calls.

See docs/ui.md.
"""
