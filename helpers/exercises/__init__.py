"""Exercises the learner fills in, and the checks that answer them (one module per session over a shared core)."""
