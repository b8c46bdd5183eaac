"""Weight initialisation as pix2pixHD/SPADE's ``init_weights`` (NVlabs/SPADE ``base_network.py``)."""

from __future__ import annotations

from torch import nn

INIT_TYPES = ("normal", "xavier", "xavier_uniform", "kaiming", "orthogonal")


def init_weights(module: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> None:
    """Initialise every conv/linear weight of ``module`` and zero its bias; affine BatchNorm gets
    ``weight ~ N(1, gain)``, ``bias = 0``.

    SPADE's defaults are ``xavier`` with gain 0.02 (``--init_type xavier --init_variance 0.02``).
    A spectral-normalized layer's ``weight_orig`` (the learned weight) is the one initialised, as the
    official code does by writing into ``weight.data`` right after wrapping, when it still shares
    ``weight_orig``'s storage.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; valid: {', '.join(INIT_TYPES)}")
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d | nn.SyncBatchNorm):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            if init_type == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif init_type == "xavier_uniform":
                nn.init.xavier_uniform_(weight, gain=1.0)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
