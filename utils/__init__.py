"""A study companion library for "Going deeper with convolutions" (Szegedy et al., CVPR 2015).

Modules, one concept each: :mod:`utils.arch` (Table 1 as data), :mod:`utils.model` (the network),
:mod:`utils.weights` (loading pretrained weights) and :mod:`utils.profiling` (parameters and
multiply-adds). Import them by name: ``from utils.model import googlenet``.
"""

from .model import GoogLeNet, GoogLeNetOutputs, googlenet

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet"]
