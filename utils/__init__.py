"""A study companion library for "Going deeper with convolutions" (Szegedy et al., CVPR 2015).

Modules, one concept each: :mod:`utils.arch` (Table 1 as data, no torch), :mod:`utils.model` (the
network), :mod:`utils.weights` (loading pretrained weights) and :mod:`utils.profiling` (parameters
and multiply-adds). Import them by name: ``from utils.model import googlenet``.

Importing this package imports nothing else: ``import utils.arch`` stays free of torch. The names
below are loaded from :mod:`utils.model` on first use.
"""

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet"]


def __getattr__(name: str):
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
