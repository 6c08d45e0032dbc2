"""Model helpers that are not registered components (plain functions)."""
