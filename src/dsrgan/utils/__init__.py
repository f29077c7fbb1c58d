"""Small shared helpers (no heavy imports)."""
