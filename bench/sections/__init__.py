"""The benchmark sections of ``bench/run.py``, one module each, and what they share."""
