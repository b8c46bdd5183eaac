# SDM at the published setting (WeilunWang/semantic-diffusion-model scripts/ade20k.sh): 256 channels, 2 res
# blocks, attention at 32/16/8 px with 64-channel heads, residual up/down-sampling, scale-shift norm, learned
# sigma, linear 1,000-step schedule, fp16, batch 4 per GPU on 8 GPUs (32), AdamW lr 1e-4, then the
# classifier-free fine-tune at lr 2e-5 with drop rate 0.2; sampling: 1,000 DDPM steps, guidance s 1.5.
# The scripts train until stopped (lr_anneal_steps 0) and the paper states no iteration count for them;
# the lengths below are SISBench's choice, stated as such: 200,000 iterations, then 20,000 of fine-tune.
_base_ = ["../_base_/methods/sdm.py"]
model = dict(use_checkpoint=True)
train = dict(batch_size=32, amp="fp16", iters=200000,
             stages=dict(train=dict(iters=200000), finetune=dict(iters=20000)))
