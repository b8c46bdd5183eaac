# GPU preset: the published schedules (method configs set their own iterations and batch sizes).
seed = 0
train = dict(
    iters=200000,
    batch_size=32,
    num_workers=8,
    log_interval=100,
    checkpoint_interval=5000,
    sample_interval=2000,
    keep_checkpoints=3,
    amp="off",
    grad_clip=None,
    ema=dict(enabled=False, decay=0.999, start_iter=0),
    lr_schedule=dict(type="linear_decay", decay_fraction=0.5),
    stages=dict(),
    tensorboard=False,
)
eval = dict(num_images=None, batch_size=32, seed=0)
