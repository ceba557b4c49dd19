"""Errors of the care-plan service, as a tree: catch `CareplanError` for all of them."""

from __future__ import annotations


class CareplanError(Exception):
    """Base of every error the care-plan service raises on purpose."""


class ConfigurationError(CareplanError):
    """A setting is missing or unusable (secrets file, database URL)."""


class DatabaseError(CareplanError):
    """The database could not be opened or migrated."""


class NotFound(CareplanError):
    """A referenced row (citizen, user, device, unit) does not exist."""


class Conflict(CareplanError):
    """The change would break a uniqueness rule (a taken username, a CPR already registered)."""


class InvalidInput(CareplanError, ValueError):
    """A value given to a service function is not acceptable; the message says why."""


class Forbidden(CareplanError):
    """The caller may not do this (their role, or whose data it is); the message says who may."""
