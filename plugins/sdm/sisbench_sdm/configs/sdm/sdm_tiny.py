# SDM on 2 CPU cores: the paper's code path (encoder on the noisy image, SPADE-GroupNorm decoder, learned
# variance, hybrid loss, train + classifier-free fine-tune, EMA, guided sampling) at reduced width; the 64 px
# image size comes from the dataset's tiny preset.
_base_ = ["../_base_/methods/sdm.py"]
model = dict(model_channels=16, num_res_blocks=1, channel_mult=(1, 2, 2, 4), attention_resolutions=(16, 8),
             num_head_channels=32, norm_groups=8, spade_hidden=16,
             # 0.999, not 0.9999: 0.9999 averages over ~10,000 steps, more than this whole run, so the EMA
             # would still be mostly the random initial network; 0.999 averages over the last ~1,000
             ema_decay=0.999)
optimizer = dict(lr=2e-4, lr_finetune=1e-4)
train = dict(iters=1500, batch_size=8, stages=dict(train=dict(iters=1500), finetune=dict(iters=300)),
             lr_schedule=dict(type="constant"), sample_interval=500, checkpoint_interval=500)
eval = dict(sampler=dict(kind="ddim", steps=10, guidance=1.5, eta=0.0))
