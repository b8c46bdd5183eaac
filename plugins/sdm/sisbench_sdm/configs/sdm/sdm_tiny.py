# SDM on 2 CPU cores: the paper's code path (encoder on the noisy image, SPADE-GroupNorm decoder, learned
# variance, hybrid loss, train + classifier-free fine-tune, EMA, guided sampling) at reduced width; the 64 px
# image size comes from the dataset's tiny preset.
_base_ = ["../_base_/methods/sdm.py"]
model = dict(
    model_channels=16,             # model_channels: the paper's 256 channels would cost ~200x more per step
    num_res_blocks=1,              # num_res_blocks: one block per level halves the U-Net's depth and cost
    channel_mult=(1, 2, 2, 4),     # channel_mult: 4 levels, 64 -> 8 px, as the official 64 px table's depth
    attention_resolutions=(16, 8),  # attention_resolutions: the two coarsest levels (the paper: 32/16/8 of 256)
    num_head_channels=32,          # num_head_channels: 1-2 heads at 32 / 64 channels
    norm_groups=8,                 # norm_groups: 32 groups cannot divide 16 channels
    spade_hidden=16,               # spade_hidden: the SPADE embedding's 3x3 convs at 64 px dominate the cost at 128
    # ema_decay: the EMA restarts at the fine-tune (as the official one), so its window must be shorter than the
    # 300-iteration fine-tune, or the final EMA is mostly weights that never saw a dropped label map and guidance
    # hurts; 0.99 averages ~100 steps
    ema_decay=0.99,
)
optimizer = dict(lr=5e-4, lr_finetune=1e-4)   # lr: 5x the paper's 1e-4 for a run 100x shorter (fine-tune 5x too)
train = dict(
    iters=1500,                    # iters: train.stages gives each stage's length
    batch_size=8,                  # batch_size: sized for a CPU iteration of under a second
    stages=dict(train=dict(iters=1500), finetune=dict(iters=300)),  # stages: 1,500 + 300 (the fine-tune at 1/5)
    lr_schedule=dict(type="constant"),  # lr_schedule: constant, as the official TrainLoop
    grad_clip=1.0,                 # grad_clip: guards the raised learning rate (the official code does not clip)
    sample_interval=300,           # sample_interval: a grid per checkpoint
    checkpoint_interval=300,       # checkpoint_interval: resumable every ~3 min on an idle machine
)
# eval.sampler: DDIM (eta 0) with 10 steps and the paper's guidance 1.5 = 20 network evaluations per image, so
# that sampling the 100 evaluation images fits a few minutes on 2 cores (1,000 DDPM steps would be 100x that).
eval = dict(sampler=dict(kind="ddim", steps=10, guidance=1.5, eta=0.0))
# The tuning history (each try and what it measured): docs/tuning/sdm.md.
