"""Budgets, grants, forecasts and alerts (CONTRACT §5)."""
