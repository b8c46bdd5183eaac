# pix2pixHD on Cityscapes: 35 label ids + the instance edge map = 36 input channels, so the official
# latest_net_G.pth files load. The paper preset trains at the dataset's 512x256, the resolution of SPADE's
# comparison (SPADE Table 1); its 100 + 100 epochs are 595,000 iterations of the 2,975 training pairs.
# The official label2city runs at 1024x512 and 2048x1024 are variants, chosen with --config:
#   python -m benchmark train --method pix2pixhd --dataset cityscapes --preset paper \
#       --config configs/pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py
