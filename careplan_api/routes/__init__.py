"""HTTP routes of the care-plan service; logic lives in `careplan_api.services`."""
