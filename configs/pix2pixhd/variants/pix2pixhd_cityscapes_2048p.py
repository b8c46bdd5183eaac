# The official label2city_1024p model: the local enhancer at 2048x1024, started from a trained 1024x512
# global generator (set model.pretrained_global to that run's .safetensors with --set), 50 + 50 epochs,
# the global part fixed for the first 10 epochs, three discriminator scales (scripts/train_1024p_24G.sh:
# --niter 50 --niter_decay 50 --niter_fix_global 10 --num_D 3).
data = dict(load_size=2048, crop_size=2048)
model = dict(netG="local", ngf=32, num_D=3, niter_fix_global=10)   # epochs, as the official option
train = dict(batch_size=1, epochs=dict(constant=50, decay=50))
