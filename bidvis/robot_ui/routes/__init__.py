"""HTTP routes of the robot's web app: pages, the arm (set-up), calibration and profile, the panel."""
