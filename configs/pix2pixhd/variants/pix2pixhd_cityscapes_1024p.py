# The official label2city_512p model: the global generator at 1024x512, 100 + 100 epochs at batch 1
# (scripts/train_512p.sh with the default --niter 100 --niter_decay 100).
data = dict(load_size=1024, crop_size=1024)
train = dict(batch_size=1, epochs=dict(constant=100, decay=100))
