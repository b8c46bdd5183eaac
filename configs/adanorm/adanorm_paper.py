# Adaptive-normalization hybrid at the paper's architecture (ngf 64, 256 px from the dataset's paper
# preset). The paper gives no batch size or schedule (2 RTX 3090 GPUs): the paper schedule's defaults.
_base_ = ["../_base_/methods/adanorm.py"]
