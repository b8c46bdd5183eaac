"""VGG19 features and the VGG perceptual loss.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
(the network); the perceptual loss of pix2pixHD (Wang et al., CVPR 2018, Sec. 4, "VGG loss") and SPADE
(Park et al., CVPR 2019, appendix A): L1 between relu1_1 .. relu5_1 features weighted 1/32 .. 1, as the
official ``VGGLoss`` of NVlabs/SPADE and NVIDIA/pix2pixHD.

Decisions:

- the network is timm's ``vgg19`` (its ``features`` stack; the classifier is never built: the model is
  created on the meta device and only the used convs are materialised);
- ``weights="imagenet"`` loads torchvision's ImageNet VGG19 (``vgg19-dcbb9e9d.pth``, the file timm's
  ``vgg19.tv_in1k`` and the official SPADE/pix2pixHD code use) through ``torch.hub``, so it is cached in the
  standard torch hub directory; offline, construction fails with one sentence naming the option to set;
- a local path may hold a timm or torchvision VGG19 state dict (their ``features.N`` keys agree);
- ``"random"`` (Kaiming-normal, as timm initialises VGG) is used only when asked for by name;
- the weights are frozen and stored as non-persistent buffers: no optimizer can pick them up, they are
  moved by ``.to()``, and they are not written into the checkpoints of the method that holds them;
- every ReLU runs out of place, so pre-activation (``convX_Y``) outputs are not overwritten;
- input is taken as given (SPADE and pix2pixHD feed [-1, 1] images without ImageNet normalisation);
  ``normalize_input=True`` maps [-1, 1] to ImageNet-normalised inputs instead;
- ``VGGLoss(last_layer=...)`` keeps the loss's layers up to and including ``last_layer`` with their own
  weights, and builds the network only that deep (a CPU preset's choice: on 64 px images relu1_1 ..
  relu5_1 cost about 3 GFLOP per image and forward pass, relu1_1 .. relu2_1 about 0.47).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.user_error import WeightsUnavailable

IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPADE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SPADE_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def _layer_indices() -> dict[str, int]:
    """``convB_I``/``reluB_I`` -> index in VGG19's ``features`` (convs per block 2, 2, 4, 4, 4; a max-pool
    after each block)."""
    names: dict[str, int] = {}
    idx = 0
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, convs + 1):
            names[f"conv{block}_{i}"] = idx
            names[f"relu{block}_{i}"] = idx + 1
            idx += 2
        idx += 1
    return names


VGG19_LAYERS: dict[str, int] = _layer_indices()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _features_state(state: dict) -> dict[str, Tensor]:
    for key in ("state_dict", "model"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
    return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}


class VGG19Features(nn.Module):
    """A frozen VGG19 returning the feature maps at ``layers`` (in the order given).

    Layer names: ``conv1_1`` .. ``conv5_4`` (pre-ReLU) and ``relu1_1`` .. ``relu5_4`` (post-ReLU).
    ``weights``: ``"imagenet"``, a local state-dict path, or ``"random"``. ``weights_source`` records
    which, for the run manifest. ``option_name`` is the config key quoted when the weights cannot be found.
    """

    def __init__(self, layers: Sequence[str], weights: str | None = "imagenet", normalize_input: bool = False,
                 option_name: str = "loss.vgg_weights"):
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown VGG19 layers {unknown or list(layers)}; valid: conv1_1..conv5_4, "
                             f"relu1_1..relu5_4")
        if weights is None:
            weights = "imagenet"
        self.layers = tuple(layers)
        self.indices = [VGG19_LAYERS[name] for name in self.layers]
        self.normalize_input = normalize_input
        last = max(self.indices)
        features = timm.create_model("vgg19", pretrained=False, device="meta").features[:last + 1]
        features = features.to_empty(device="cpu")
        for module in features:
            if isinstance(module, nn.ReLU):
                module.inplace = False
        convs = {str(i): m for i, m in enumerate(features) if isinstance(m, nn.Conv2d)}
        if weights == "random":
            for conv in convs.values():
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)
            self.weights_source = "random (Kaiming-normal init, not pretrained)"
        else:
            state, self.weights_source = self._load_state(weights, option_name)
            needed = {f"{i}.{p}" for i in convs for p in ("weight", "bias")}
            missing = sorted(needed - set(state))
            if missing:
                raise WeightsUnavailable(f"{option_name}={weights!r} is not a VGG19 state dict: it lacks "
                                 f"features.{missing[0]} (and {len(missing) - 1} more)")
            features.load_state_dict({k: state[k] for k in needed})
        for conv in convs.values():
            for pname in ("weight", "bias"):
                value = getattr(conv, pname).detach()
                del conv._parameters[pname]
                conv.register_buffer(pname, value, persistent=False)
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    @staticmethod
    def _load_state(weights: str, option_name: str) -> tuple[dict[str, Tensor], str]:
        if weights == "imagenet":
            try:
                state = torch.hub.load_state_dict_from_url(IMAGENET_URL, map_location="cpu", check_hash=True,
                                                           weights_only=True)
            except OSError as exc:
                hub = Path(torch.hub.get_dir()) / "checkpoints"
                raise WeightsUnavailable(
                    f"could not download the ImageNet VGG19 weights ({IMAGENET_URL}: {exc}); set "
                    f"{option_name} to a local timm or torchvision vgg19 state-dict file, or place "
                    f"vgg19-dcbb9e9d.pth in {hub}") from exc
            return _features_state(state), f"imagenet (torchvision {Path(IMAGENET_URL).name} via torch hub)"
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"{option_name}={weights!r} is neither 'imagenet', 'random' nor an "
                                          f"existing VGG19 state-dict file")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return _features_state(state), f"file {path} (sha256 {_sha256(path)})"

    def train(self, mode: bool = True) -> VGG19Features:
        """Stay in eval mode: the network is a fixed feature extractor."""
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        if self.normalize_input:
            x = ((x + 1) / 2 - self.mean) / self.std
        wanted = set(self.indices)
        taken: dict[int, Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                taken[i] = x
        return [taken[i] for i in self.indices]


def truncate_layers(layers: Sequence[str], layer_weights: Sequence[float],
                    last_layer: str | None) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``layers`` and their weights up to and including ``last_layer`` (None: all of them)."""
    layers, layer_weights = tuple(layers), tuple(layer_weights)
    if last_layer is None:
        return layers, layer_weights
    if last_layer not in layers:
        raise ValueError(f"VGG loss last layer {last_layer!r} is not one of its layers; valid: "
                         f"{', '.join(layers)}")
    keep = layers.index(last_layer) + 1
    return layers[:keep], layer_weights[:keep]


class VGGLoss(nn.Module):
    """``sum_i w_i * L1(VGG_i(fake), VGG_i(real))`` over relu1_1 .. relu5_1 with w = 1/32 .. 1 (SPADE,
    pix2pixHD); the real image's features carry no gradient. The method multiplies by ``lambda_vgg``.
    ``last_layer`` (e.g. ``"relu2_1"``) drops the deeper terms and the network behind them."""

    def __init__(self, weights: str | None = "imagenet", layer_weights: Sequence[float] = SPADE_LAYER_WEIGHTS,
                 layers: Sequence[str] = SPADE_LAYERS, normalize_input: bool = False,
                 option_name: str = "loss.vgg_weights", last_layer: str | None = None):
        super().__init__()
        if len(layer_weights) != len(layers):
            raise ValueError(f"{len(layer_weights)} layer weights for {len(layers)} layers")
        layers, layer_weights = truncate_layers(layers, layer_weights, last_layer)
        self.vgg = VGG19Features(layers, weights, normalize_input, option_name)
        self.layer_weights = tuple(float(w) for w in layer_weights)

    @property
    def weights_source(self) -> str:
        return self.vgg.weights_source

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        fake_feats = self.vgg(fake)
        with torch.no_grad():
            real_feats = self.vgg(real)
        loss = fake.new_zeros(())
        for w, f, r in zip(self.layer_weights, fake_feats, real_feats, strict=True):
            loss = loss + w * F.l1_loss(f, r)
        return loss
