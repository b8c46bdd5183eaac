# SDM on COCO-Stuff: 256x256, 183 label channels (the official loader maps 255 to channel 182, SISBench's
# don't-care channel) plus the instance-edge channel (the released COCO-Stuff model takes instances). The
# repository ships no COCO-Stuff script: learning rates and the guidance scale are the ADE20K script's, stated as
# SISBench's assumption.
presets = dict(paper=dict(optimizer=dict(lr=1e-4, lr_finetune=2e-5),
                          eval=dict(sampler=dict(kind="ddpm", steps=1000, guidance=1.5))))
