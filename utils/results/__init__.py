"""Results: §7's test-time crops and ensembles (:mod:`.crops`, :mod:`.evaluate`), the paper's Tables 2-5
(:mod:`.paper_tables`), the photo model's results (:mod:`.photo_results`), what each Inception branch
computes (:mod:`.activations`, :mod:`.branch_kernels`) and the images fed to it
(:mod:`.images`).
"""
