# SDM on Cityscapes: 512x256 (the official loader resizes, keeping the aspect ratio; image_size 512 is the
# width: channel multipliers 0.5,1,1,2,2,4,4 and attention at 32/16/8 px of the width's scale), 35 label ids
# plus the instance-edge channel. The repository ships no Cityscapes script (the README links visual results
# only): learning rates and the guidance scale are the ADE20K script's, stated as SISBench's assumption.
presets = dict(paper=dict(optimizer=dict(lr=1e-4, lr_finetune=2e-5),
                          eval=dict(sampler=dict(kind="ddpm", steps=1000, guidance=1.5))))
