"""Training the network: §6's recipe (:mod:`.recipe`), data and augmentations (:mod:`.data`,
:mod:`.imagenette`), the loop (:mod:`.loop`), checkpoints and run folders (:mod:`.checkpoint`,
:mod:`.runs`), the command line (:mod:`.train`), the notebooks' shared MNIST model (:mod:`.cache`),
the photo model's training record (:mod:`.photo_training`), shipping a finished run (:mod:`.export`) and the
registry that finds and loads trained weights for every notebook and command, whose last resort is a training
run (:mod:`.pretrained`).
"""
