"""Training the network: §6's recipe (:mod:`.recipe`), data and augmentations (:mod:`.data`,
:mod:`.imagenette`), the loop (:mod:`.loop`), checkpoints and run folders (:mod:`.checkpoint`,
:mod:`.runs`), the command line (:mod:`.train`), the notebooks' shared MNIST model (:mod:`.cache`) and
the photo model's training record (:mod:`.photo_training`).
"""
