"""bidvis."""
