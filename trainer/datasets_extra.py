"""Imports the dataset modules that register themselves with `trainer.datasets.register`."""
from __future__ import annotations
