"""The robot's two documents, the calibration and the citizen profile, and every change to them.

`RobotDocuments` holds both (and where they are saved). A change is validated with the rest of
its document (a bad value is refused with the field named), saved atomically, and journalled as
`calibration_changed` with who made it and the old and new values of what changed
(`changes.journal_values`); if the journal cannot record it, the old file is put back, so no
change stays unjournalled.

Values only through the paths meant for them:
- a calibration saved on this robot records the servo port really in use (`port`);
- the face size (`face_scale`) is measured (`set_measured`), never typed in with the other
  profile fields; a staff override is `set_measured` too, with a reason, journalled as one;
- while a meal runs nothing changes (`freeze_while`): the meal runs on the documents as they were
  when it started, and a change is refused (`Busy`) until it ends.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bidvis.robot_ui.changes import changed_values, journal_values
from bidvis.robot_ui.errors import Busy, FieldError, Unjournalled
from careplan_api.schemas import UsageEventType
from controller.causes import cause_message
from controller.config import (
    CitizenProfile,
    ConfigError,
    ConfigValidationError,
    RobotCalibration,
    calibration_change,
    check_profile_fits,
    save_config,
)
from controller.journal import JournalError
from controller.messages import Message
from controller.safety import JointNoise

log = logging.getLogger(__name__)

MAX_OPERATOR_CHARS = 80
MEASURED_FIELDS = frozenset({"face_scale"})  # profile fields that only a measurement (or an override) sets


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
        port: str | None = None,
    ) -> None:
        self.port = port  # the servo port in use: what a saved calibration records
        self.calibration = calibration
        self.calibration_path = Path(calibration_path)
        self.profile = profile
        self.profile_path = Path(profile_path)
        self.journal = journal
        self.setup_id = uuid.uuid4()  # the journal's meal id for changes made outside a meal
        self.lock = threading.RLock()
        self._frozen: Callable[[], Message | None] = lambda: None

    def freeze_while(self, reason: Callable[[], Message | None]) -> None:
        """Refuse every change (`Busy`, with the reason) while `reason()` gives one."""
        self._frozen = reason

    def _require_unfrozen(self) -> None:
        reason = self._frozen()
        if reason is not None:
            raise Busy(reason)

    def contact_noise(self) -> JointNoise | None:
        """The joints' current noise from the commissioning record next to the calibration (the
        contact detector's thresholds), or None while the arm is not commissioned (or its record
        is unreadable or for other servos: the detector then assumes the noisiest arm that passes)."""
        from controller.commissioning import load_record, record_path

        path = record_path(self.calibration_path)
        if not path.exists():
            return None
        try:
            return load_record(path).joint_noise(self.calibration.joint_servo_ids)
        except ConfigError as exc:
            log.warning("commissioning record not used for contact thresholds: %s", exc)
            return None

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
            self._require_unfrozen()
            old = self.calibration
            data = {**old.model_dump(mode="python"), **updates, "changed_by": who, "changed_at": datetime.now(UTC)}
            if self.port is not None:
                data["port"] = self.port
            new = _validated(RobotCalibration, data, "calibration")
            check_profile_fits(self.profile, new)
            change = calibration_change(old, new)
            change["fields"] = sorted({*change["fields"], *also_changed})
            values = journal_values(
                *changed_values(
                    old.model_dump(mode="json", exclude={"changed_by", "changed_at"}),
                    new.model_dump(mode="json", exclude={"changed_by", "changed_at"}),
                )
            )
            self._save_journalled(
                new, old, self.calibration_path, {**change, **values, "document": "calibration", **(detail or {})}
            )
            self.calibration = new
            return new

    def change_profile(
        self, operator: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> CitizenProfile:
        """Change profile fields (validated together with the rest of the profile), save, journal
        (`detail`: more event data). A measured field (`MEASURED_FIELDS`) is refused here."""
        measured = sorted(MEASURED_FIELDS & values.keys())
        if measured:
            raise FieldError(measured[0], Message("refusal.measured_not_typed"))
        return self._change_profile(operator, values, detail)

    def set_measured(self, operator: str, field: str, value: Any, detail: dict[str, Any]) -> CitizenProfile:
        """Set a measured profile field (`MEASURED_FIELDS`) from its measurement, or a staff
        override; `detail` says how (journalled with the change)."""
        if field not in MEASURED_FIELDS:
            raise FieldError(field, Message("refusal.not_measured_field"))
        return self._change_profile(operator, {field: value}, detail)

    def _change_profile(self, operator: str, values: dict[str, Any], detail: dict[str, Any] | None) -> CitizenProfile:
        who = check_operator(operator)
        with self.lock:
            self._require_unfrozen()
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
            values = journal_values(*changed_values(before, after))
            self._save_journalled(
                new,
                old,
                self.profile_path,
                {
                    "changed_by": who,
                    "changed_at": datetime.now(UTC).isoformat(),
                    "fields": fields,
                    **values,
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
            raise Unjournalled(Message("refusal.unjournalled", cause=cause_message(exc)), cause=exc) from exc
