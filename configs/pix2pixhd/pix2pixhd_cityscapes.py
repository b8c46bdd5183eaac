# pix2pixHD on Cityscapes, as the official label2city runs (2975 training pairs; 35 label ids + the
# instance edge map = 36 input channels, so the official latest_net_G.pth files load).
# paper: label2city_512p -- the global generator at 1024x512, 200 epochs at batch 1 (100 constant + 100
# decaying). SPADE's comparison trained it at 512x256: --set data.load_size=512 data.crop_size=512.
# The 2048x1024 model (label2city_1024p) is a second run started from this one's generator:
#   --set data.load_size=2048 data.crop_size=2048 model.netG=local model.ngf=32 model.num_D=3
#         model.niter_fix_global=29750 model.pretrained_global=<the 1024x512 run's .safetensors>
#         train.iters=297500
# (official: 50 + 50 epochs, the global part fixed for the first 10).
presets = dict(
    paper=dict(
        data=dict(load_size=1024, crop_size=1024),
        train=dict(iters=595000),
    ),
)
