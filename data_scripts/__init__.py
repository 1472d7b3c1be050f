"""Data preparation for fashion-resnet50: read the raw Fashion Product Images, clean, split, write.

`prepare`, `load_prepared` and `SAMPLE_DIR` are imported from `data_scripts.prepare`, not from here: a package
that imported that module itself would have it run twice by `python -m data_scripts.prepare` (runpy warns).
"""

from .read_raw import RawDataError
from .rules import HEADS, CleaningRules

__all__ = ["HEADS", "CleaningRules", "RawDataError"]
