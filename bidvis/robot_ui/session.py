"""The robot as staff and citizen meet it: one `RobotSession` behind the web pages, made of one
part per job:

- `documents`: the calibration and the citizen profile, every change validated, saved and
  journalled (`documents.RobotDocuments`);
- `arm`: the bus and the arm during set-up: scan, connect, jog, pose moves, test bites
  (`arm_control.ArmControl`; its loop runs in the set-up process, `bidvis.motion_runtime`);
- `calibration_steps`: taught poses, spoon offset, camera and hand-eye calibration
  (`calibration.CalibrationSteps`);
- `profile_steps`: profile fields and the measured face size (`profile.ProfileSteps`);
- `meal`: the citizen's meal, started from the panel (`meal.MealRuntime`); with
  `controller_process` its control loop runs in a process of its own (`bidvis.motion_runtime`).

STOP (`stop()`) reaches whatever moves the arm: the meal by e-stop, or the set-up motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bidvis.robot_ui.arm_control import ArmControl
from bidvis.robot_ui.calibration import CalibrationSteps, FrameSource
from bidvis.robot_ui.documents import RobotDocuments
from bidvis.robot_ui.meal import MealRuntime, MouthFeed
from bidvis.robot_ui.profile import ProfileSteps
from bidvis.robot_ui.texts import staff_text
from controller.config import CitizenProfile, RobotCalibration, SafetyLimits
from controller.messages import Language, Message

MEAL_FREEZES_DOCUMENTS = Message("refusal.meal_freezes_documents")


class RobotSession:
    """See the module docstring. `journal` is a `controller.journal.UsageJournal`."""

    def __init__(
        self,
        *,
        port: str,
        calibration: RobotCalibration,
        calibration_path: Path,
        profile: CitizenProfile,
        profile_path: Path,
        limits: SafetyLimits,
        journal: Any,
        camera: FrameSource | None = None,
        mouth: MouthFeed | None = None,
        switches: Sequence[Any] = (),
        reply_allowance_s: float | None = None,
        controller_process: bool = False,
        in_process_port: str | None = None,
    ) -> None:
        """`in_process_port`: where a meal run in this process (without `controller_process`)
        opens the servos, when not `port` (`meal.MealRuntime`; the simulator's in-process servos)."""
        self.documents = RobotDocuments(
            calibration=calibration,
            calibration_path=calibration_path,
            profile=profile,
            profile_path=profile_path,
            journal=journal,
            port=port,
        )
        self.arm = ArmControl(port, self.documents, limits, reply_allowance_s)
        self.calibration_steps = CalibrationSteps(self.documents, self.arm, camera)
        self.profile_steps = ProfileSteps(self.documents, camera)
        self.meal = MealRuntime(
            self.documents,
            self.arm,
            limits,
            mouth,
            switches,
            own_process=controller_process,
            in_process_port=in_process_port,
        )
        self.documents.freeze_while(lambda: MEAL_FREEZES_DOCUMENTS if self.meal.running else None)

    @property
    def camera(self) -> FrameSource | None:
        return self.calibration_steps.camera

    @camera.setter
    def camera(self, camera: FrameSource | None) -> None:
        """The camera for calibration and the face size (set after the session is made, in the simulator)."""
        self.calibration_steps.camera = camera
        self.profile_steps.camera = camera

    def stop(self, source: str | None = None) -> Message:
        """STOP: stop the arm now, whatever moves it (set-up motion, or the meal by an e-stop
        journalled with `source`: who pressed it, from which client)."""
        if self.meal.running:
            self.meal.estop(source)
            return Message("done.meal_stopped")
        self.arm.stop()
        return Message("done.arm_stopped")

    def status(self, language: Language = Language.ENGLISH) -> dict[str, Any]:
        """Everything the staff page shows: connection, arm, meal, calibration, profile, last scan;
        texts for a person (`*_text`) in `language`."""
        cal = self.documents.calibration
        arm = self.arm.status(language)
        message = self.meal.message
        return {
            "port": self.arm.port,
            "connected": arm is not None or self.meal.running,
            "arm": arm,
            "meal": self.meal.status(language),
            "calibration": {
                "changed_by": cal.changed_by,
                "changed_at": cal.changed_at.isoformat(),
                "ready_pose_rad": list(cal.ready_pose_rad),
                "rest_pose_rad": list(cal.rest_pose),
                "bowls": [
                    {
                        "name": b.name,
                        "waypoints": len(b.waypoints_rad),
                        "waypoints_text": staff_text("waypoints", language, n=len(b.waypoints_rad)),
                    }
                    for b in cal.bowls
                ],
                "spoon": cal.spoon.model_dump(),
                "intrinsics_ref": cal.camera.intrinsics_ref,
            },
            "profile": self.documents.profile.model_dump(mode="json"),
            "scan": [asdict(s) for s in self.arm.last_scan],
            "camera": self.camera is not None,
            "message": "" if message is None else str(message),
            "message_text": "" if message is None else message.text(language),
        }

    def close(self) -> None:
        """Stop everything this session runs (the meal by e-stop, then the set-up arm)."""
        self.meal.close()
        self.arm.close()
