"""The robot's two documents, the calibration and the citizen profile, and every change to them.

`RobotDocuments` holds both (and where they are saved). A change is validated with the rest of
its document (a bad value is refused with the field named), saved atomically, and journalled as
`calibration_changed` with who made it; if the journal cannot record it, the old file is put back,
so no change stays unjournalled.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bidvis.robot_ui.errors import FieldError, Unjournalled
from careplan_api.schemas import UsageEventType
from controller.config import (
    CitizenProfile,
    ConfigValidationError,
    RobotCalibration,
    calibration_change,
    check_profile_fits,
    save_config,
)
from controller.journal import JournalError
from controller.messages import Message

MAX_OPERATOR_CHARS = 80


def check_operator(operator: str | None) -> str:
    """The staff member's name as journalled: required, trimmed, at most 80 characters."""
    name = (operator or "").strip()
    if not name:
        raise FieldError("operator", Message("refusal.operator_missing"))
    if len(name) > MAX_OPERATOR_CHARS:
        raise FieldError("operator", Message("refusal.too_long", max=MAX_OPERATOR_CHARS))
    return name


def _validated(model: type[BaseModel], data: dict[str, Any], source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(source, [dict(e) for e in exc.errors()]) from exc


class RobotDocuments:
    """The calibration and profile in force, their files, and the journal their changes go to
    (`journal`: a `controller.journal.UsageJournal`)."""

    def __init__(
        self,
        *,
        calibration: RobotCalibration,
        calibration_path: Path,
        profile: CitizenProfile,
        profile_path: Path,
        journal: Any,
    ) -> None:
        self.calibration = calibration
        self.calibration_path = Path(calibration_path)
        self.profile = profile
        self.profile_path = Path(profile_path)
        self.journal = journal
        self.setup_id = uuid.uuid4()  # the journal's meal id for changes made outside a meal
        self.lock = threading.RLock()

    def intrinsics_path(self) -> Path:
        """Where the camera intrinsics file of the calibration lives (next to the calibration)."""
        return self.calibration_path.parent / Path(self.calibration.camera.intrinsics_ref).name

    def change_calibration(
        self, operator: str, *, also_changed: tuple[str, ...] = (), detail: dict[str, Any] | None = None, **updates: Any
    ) -> RobotCalibration:
        """Validate, save and journal a calibration change (`also_changed`: fields changed outside
        the calibration document, such as the intrinsics file it names; `detail`: more event data)."""
        who = check_operator(operator)
        with self.lock:
            old = self.calibration
            data = {**old.model_dump(mode="python"), **updates, "changed_by": who, "changed_at": datetime.now(UTC)}
            new = _validated(RobotCalibration, data, "calibration")
            check_profile_fits(self.profile, new)
            change = calibration_change(old, new)
            change["fields"] = sorted({*change["fields"], *also_changed})
            self._save_journalled(
                new, old, self.calibration_path, {**change, "document": "calibration", **(detail or {})}
            )
            self.calibration = new
            return new

    def change_profile(
        self, operator: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> CitizenProfile:
        """Change profile fields (validated together with the rest of the profile), save, journal
        (`detail`: more event data, such as how a value was measured)."""
        who = check_operator(operator)
        with self.lock:
            old = self.profile
            merged = old.model_dump(mode="python")
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            new = _validated(CitizenProfile, merged, "profile")
            check_profile_fits(new, self.calibration)
            before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
            fields = sorted(f"profile.{key}" for key in after if before.get(key) != after[key])
            self._save_journalled(
                new,
                old,
                self.profile_path,
                {
                    "changed_by": who,
                    "changed_at": datetime.now(UTC).isoformat(),
                    "fields": fields,
                    "document": "profile",
                    **(detail or {}),
                },
            )
            self.profile = new
            return new

    def _save_journalled(self, new: BaseModel, old: BaseModel, path: Path, event: dict[str, Any]) -> None:
        """Save `new` and journal the change; if the journal refuses, put `old` back."""
        save_config(new, path)
        try:
            self.journal.record(UsageEventType.CALIBRATION_CHANGED, event, meal_id=self.setup_id)
        except JournalError as exc:
            save_config(old, path)
            raise Unjournalled(Message("refusal.unjournalled", cause=str(exc))) from exc
