# SDM on ADE20K (official scripts/ade20k.sh): 256x256, 151 label channels (the official loader shifts the labels
# by one and puts "other" last: SISBench's order), --no_instance, train at lr 1e-4, fine-tune at 2e-5 with
# drop rate 0.2, sample 1,000 DDPM steps with s 1.5 -- the paper preset's defaults, stated here for the record.
model = dict(use_instance=False)
presets = dict(paper=dict(optimizer=dict(lr=1e-4, lr_finetune=2e-5),
                          eval=dict(sampler=dict(kind="ddpm", steps=1000, guidance=1.5))))
