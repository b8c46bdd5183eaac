# CRN as published: batch 1, a constant lr 1e-4 (demo_256p.py: `for epoch in range(1, 201)` over
# Cityscapes' 2,975 training pairs at lr 1e-4 throughout; GTA_Diversity_256p.py: 400 epochs of GTA5, a
# dataset SISBench does not ship). SPADE's Table 1 CRN rows (COCO-Stuff, ADE20K, ADE20K-outdoor) were
# retrained by SPADE's authors, who published no schedule for them: no primary source, so the Cityscapes
# 200 epochs apply to every dataset. Epochs become iterations from data.train_images
# (benchmark/schedule.py): 595,000 on Cityscapes, 4,042,000 on ADE20K.
_base_ = ["../_base_/methods/crn.py"]
train = dict(
    batch_size=1,
    epochs=dict(constant=200, decay=0),
)
