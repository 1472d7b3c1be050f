"""Data preparation for fashion-resnet50: read the raw Fashion Product Images, clean, split, write."""

from .prepare import SAMPLE_DIR, load_prepared, prepare
from .rules import HEADS, CleaningRules

__all__ = ["HEADS", "SAMPLE_DIR", "CleaningRules", "load_prepared", "prepare"]
