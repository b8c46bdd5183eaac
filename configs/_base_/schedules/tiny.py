# CPU preset: the same code path as the paper preset at reduced width and resolution; minutes on 2 cores.
# train.iters: a few hundred iterations, minutes on 2 cores (each method's tiny file sets its own).
# train.epochs: the paper presets count epochs of the real datasets; the tiny preset counts iterations.
# train.batch_size: 8, what 2 CPU cores train at a useful rate (the papers: 1 to 32 on GPUs).
# train.lr_schedule: the same linear decay over the second half for every method, so short runs end settled
# (a method whose paper keeps the rate constant, as CRN, keeps it in its paper preset).
seed = 0
train = dict(
    iters=300,            # per stage unless a method's config sets stages.<stage>.iters
    batch_size=8,
    num_workers=0,
    log_interval=10,
    checkpoint_interval=100,
    sample_interval=100,
    keep_checkpoints=2,
    amp="off",            # off | bf16 | fp16
    grad_clip=None,       # max gradient norm, or None
    ema=dict(enabled=False, decay=0.999, start_iter=0),
    lr_schedule=dict(type="linear_decay", decay_fraction=0.5),  # constant, then linearly to 0
    stages=dict(),        # per-stage overrides, e.g. stages=dict(noise_prior=dict(iters=100))
    tensorboard=False,
)
eval = dict(num_images=None, batch_size=16, seed=0)  # num_images None: the whole evaluation split
