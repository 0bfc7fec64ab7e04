"""The network: Table 1 as data (:mod:`.arch`), GoogLeNet built from it (:mod:`.model`), its LRN
(:mod:`.lrn`), the fast inference path (:mod:`.fast`), and the weights it can carry: BVLC's Caffe
model (:mod:`.caffe`), torchvision's and the project's checkpoints (:mod:`.weights`), the shipped
photo model (:mod:`.shipped`), the one description every set of weights carries (:mod:`.weights_info`), and
recording what named modules output (:mod:`.hooks`).

Importing this package imports nothing else, so ``import utils.network.arch`` stays free of torch.
"""
