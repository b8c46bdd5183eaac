# The official label2city_512p model: the global generator at 1024x512, 200 epochs at batch 1.
data = dict(load_size=1024, crop_size=1024)
train = dict(iters=595000, batch_size=1)
