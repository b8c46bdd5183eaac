# SDM on CelebAMask-HQ (official scripts/celeba.sh): 256x256, 19 classes plus the edge channel the official
# loader computes from the label map itself (its "instances" are the label files), train AND fine-tune at lr
# 2e-5, drop rate 0.2, sample 1,000 DDPM steps with s 1.5.
presets = dict(paper=dict(optimizer=dict(lr=2e-5, lr_finetune=2e-5),
                          eval=dict(sampler=dict(kind="ddpm", steps=1000, guidance=1.5))))
