"""``from utils.model import googlenet``: the short import of the network, which lives in
:mod:`utils.network.model`."""

from .network.model import GoogLeNet, GoogLeNetOutputs, googlenet

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet"]
