"""careplan_api."""
