"""Demo and evaluation data simulators (not part of the production library)."""
