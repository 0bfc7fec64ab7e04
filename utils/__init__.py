"""A study companion library for "Going deeper with convolutions" (Szegedy et al., CVPR 2015).

One package per layer of the project, one concept per module:

* :mod:`utils.network`: Table 1 as data (``arch``, no torch), the network built from it (``model``),
  its LRN, the fast inference path and the weights it can load;
* :mod:`utils.measuring`: parameters and multiply-adds (``profiling``, ``table1``, ``counters``),
  receptive fields, §3's sparsity study and the timing harness;
* :mod:`utils.training`: §6's recipe, data, the loop, checkpoints and run folders;
* :mod:`utils.results`: §7's crops and ensembles, the paper's tables, the photo model's results and
  what each Inception branch computes;
* :mod:`utils.presentation`: figures, the notes' quoted numbers, the notebook runner, the book and
  JupyterLab.

Packages import downward only, in this order (a test walks every import): network <- measuring <-
training <- results <- presentation <- benchmarks. ``utils.paths`` and ``utils.cli_checks`` are the base
every layer may use; ``from utils.model import googlenet`` is the short import of the network. Importing
this package imports nothing else: ``import utils.network.arch`` stays free of torch.
"""
