# SDM (Wang et al., arXiv 2207.00050): every option, once, with the official defaults of
# WeilunWang/semantic-diffusion-model (scripts/ade20k.sh, guided_diffusion/script_util.py).
model = dict(
    model_channels=256,            # --num_channels 256
    num_res_blocks=2,              # --num_res_blocks 2
    channel_mult=None,             # None: the official table by image side (256 px: 1,1,2,2,4,4)
    attention_resolutions=(32, 16, 8),  # --attention_resolutions 32,16,8 (feature-map sides in px)
    num_head_channels=64,          # --num_head_channels 64
    num_heads=4,                   # used only when num_head_channels is -1
    dropout=0.0,
    learn_sigma=True,              # --learn_sigma True: 6 output channels (noise, variance interpolation)
    resblock_updown=True,          # --resblock_updown True
    use_scale_shift_norm=True,     # --use_scale_shift_norm True
    norm_groups=32,                # GroupNorm groups (hard-coded 32 in the official code)
    spade_hidden=128,              # SPADEGroupNorm's embedding width (hard-coded 128)
    use_checkpoint=False,          # gradient checkpointing (the official training passes --use_checkpoint True)
    use_instance=None,             # None: the dataset's instance maps when it has them (ADE20K: --no_instance)
    ema_decay=0.9999,              # the released ema_0.9999_best.pt
)
diffusion = dict(
    steps=1000,                    # --diffusion_steps 1000
    noise_schedule="linear",       # --noise_schedule linear
    drop_rate=0.2,                 # fine-tune stage: --drop_rate 0.2 (whole label map zeroed)
)
# official TrainLoop: AdamW, weight decay 0, constant rate (lr_anneal_steps 0); fine-tune --lr 2e-5
optimizer = dict(type="AdamW", lr=1e-4, lr_finetune=2e-5, betas=(0.9, 0.999), weight_decay=0.0)
train = dict(lr_schedule=dict(type="constant"), ema=dict(enabled=False))
# the official test script: 1,000 ancestral steps (no respacing), guidance s 1.5
eval = dict(sampler=dict(kind="ddpm", steps=1000, guidance=1.5, eta=0.0))
