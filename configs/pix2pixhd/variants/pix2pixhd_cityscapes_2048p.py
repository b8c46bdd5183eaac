# The official label2city_1024p model: the local enhancer at 2048x1024, started from a trained 1024x512
# global generator (set model.pretrained_global to that run's .safetensors with --set), 50 + 50 epochs,
# the global part fixed for the first 10 epochs, three discriminator scales.
data = dict(load_size=2048, crop_size=2048)
model = dict(netG="local", ngf=32, num_D=3, niter_fix_global=10)   # epochs (official --niter_fix_global 10)
train = dict(iters=297500, batch_size=1)
