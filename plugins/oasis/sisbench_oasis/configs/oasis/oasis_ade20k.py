# OASIS on ADE20K (official set_dataset_default_lm and scripts/train_ade20k.sh): 256x256, batch 32,
# lambda_labelmix 10, EMA 0.9999, 200 epochs of 20,210 images = 126,200 iterations -- the paper preset's
# defaults, stated here for the record.
presets = dict(paper=dict(train=dict(batch_size=32, epochs=dict(constant=200, decay=0))))
