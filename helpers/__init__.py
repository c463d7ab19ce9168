"""Helpers for the DPO workbook: the notebooks import these; all logic lives here, tested by tests/."""
