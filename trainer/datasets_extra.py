"""Imports the dataset modules that register themselves with `trainer.datasets.register`."""
from __future__ import annotations
from trainer import multi30k  # noqa: F401  (multi30k_de_en)
from trainer import movielens  # noqa: F401  (movielens_100k)
from trainer import finetune  # noqa: F401  (digits_0_4, digits_5_9)
from trainer import cifar  # noqa: F401  (cifar10, cifar10_cars_horses)
from trainer import toy2d  # noqa: F401  (circle, xor, gauss, spiral)
