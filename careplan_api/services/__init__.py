"""Logic of the care-plan service, independent of HTTP: the routes call these functions."""
