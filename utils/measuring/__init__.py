"""Measuring the network: the analytic cost model (:mod:`.profiling`) and Table 1 beside the printed
numbers (:mod:`.table1`), traced counts (:mod:`.counters`), receptive fields
(:mod:`.receptive_field`), Figure 2 (a) against (b) (:mod:`.inception_cost`), §3's sparse against dense
arithmetic (:mod:`.sparsity`), the published figures of other networks (:mod:`.reference`) and the one
timing harness (:mod:`.timing`).
"""
