"""Backbones (bodies) of the downstream network.

- :class:`Conv4`: 4 x [conv3x3(width), BN, ReLU, max-pool 2], flattened (MAML's
  Omniglot/mini-ImageNet network; width 64 in the paper profile).
- ``resnet18``, ``mobilenetv2``, ``swin`` (Tables 6-7): timm's ResNet-18, MobileNetV2-1.0 and
  Swin-T, untrained, classifier removed.
- :class:`ResNet12`: 4 residual blocks of 3 x conv3x3 + BN + LeakyReLU(0.1)
  with a 1x1 shortcut and max-pool 2, widths (64, 160, 320, 640) x ``width_mult``,
  global average pool (as in TADAM / MetaOptNet / Meta-Baseline).

``track_running_stats=False`` makes BN use batch statistics always (the
transductive BN of MAML/REPTILE, and vmap-friendly: no buffers are mutated).

Example:
    >>> net = Conv4(in_channels=1, width=32)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 32])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _bn(c, track):
    return nn.BatchNorm2d(c, track_running_stats=track)


class Conv4(nn.Module):
    """MAML's body: ``depth`` x [conv3x3(``width``), BN, ReLU, max-pool 2], flattened.

    Example:
        >>> Conv4(in_channels=3, width=8)(torch.zeros(2, 3, 84, 84)).shape            # 8 channels x 5 x 5
        torch.Size([2, 200])
    """

    def __init__(self, in_channels: int = 3, width: int = 64, depth: int = 4, track_running_stats: bool = True):
        super().__init__()
        layers, c = [], in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), _bn(width, track_running_stats), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward_copies(self, p: dict, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of B copies at once, copy b with parameters ``{name: p[name][b]}`` (names as
        in ``named_parameters()``, stacked along a new dim 0) on its own images ``x`` ``[B, n, C, H, W]``
        -> ``[B, n, features]``: one grouped convolution (groups = B) and one batch norm over B x width
        channels per layer, the same numbers as ``vmap(functional_call(...))`` to float rounding and
        ~1.5x faster with gradients (REPTILE's inner loops; tests/test_methods.py). Batch statistics
        only (``track_running_stats=False``).

        Example:
            >>> net = Conv4(1, 8, track_running_stats=False)
            >>> p = {k: v.detach().expand(3, *v.shape) for k, v in net.named_parameters()}
            >>> net.forward_copies(p, torch.randn(3, 2, 1, 28, 28)).shape
            torch.Size([3, 2, 8])
        """
        if self.features[1].track_running_stats:
            raise ValueError("forward_copies uses batch statistics only (track_running_stats=False)")
        B, n = x.shape[:2]
        h = x.transpose(0, 1).reshape(n, B * x.shape[2], *x.shape[3:])           # copies side by side in channels
        for i in range(0, len(self.features), 4):
            w = p[f"features.{i}.weight"]
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), p[f"features.{i}.bias"].reshape(-1), padding=1, groups=B)
            h = F.batch_norm(h, None, None, p[f"features.{i + 1}.weight"].reshape(-1),
                             p[f"features.{i + 1}.bias"].reshape(-1), training=True)
            h = F.max_pool2d(F.relu(h), 2)
        return h.reshape(n, B, -1).transpose(0, 1)


class _ResBlock(nn.Module):
    def __init__(self, cin, cout, track):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), _bn(cout, track), nn.LeakyReLU(0.1),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), _bn(cout, track), nn.LeakyReLU(0.1),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), _bn(cout, track))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout, track))
        self.out = nn.Sequential(nn.LeakyReLU(0.1), nn.MaxPool2d(2))

    def forward(self, x):
        return self.out(self.body(x) + self.shortcut(x))


class ResNet12(nn.Module):
    """ResNet-12: 4 residual blocks of widths (64, 160, 320, 640) x ``width_mult``, global average pool.

    Example:
        >>> net = ResNet12(in_channels=3, width_mult=0.25)
        >>> net.out_dim, net(torch.zeros(2, 3, 32, 32)).shape
        (160, torch.Size([2, 160]))
    """

    def __init__(self, in_channels: int = 3, width_mult: float = 1.0, track_running_stats: bool = True):
        super().__init__()
        widths = [max(1, int(round(w * width_mult))) for w in (64, 160, 320, 640)]
        blocks, c = [], in_channels
        for w in widths:
            blocks.append(_ResBlock(c, w, track_running_stats))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c

    def forward(self, x):
        return self.blocks(x).mean(dim=(2, 3))


# timm bodies of Tables 6-7, built untrained (no hub weights) with their classifier removed (pooled features)
TIMM = {"resnet18": "resnet18", "mobilenetv2": "mobilenetv2_100", "swin": "swin_tiny_patch4_window7_224"}
BACKBONES = ("conv4", "resnet12") + tuple(TIMM)


def _timm_body(name: str, in_channels: int, image_size: int | None, track_running_stats: bool) -> nn.Module:
    import timm
    kw = dict(pretrained=False, num_classes=0, in_chans=in_channels)
    if name == "swin":                      # Swin's patch grid is fixed at build time: it refuses other sizes
        if image_size is None:
            raise ValueError("the swin body needs image_size")
        kw["img_size"] = image_size
    body = timm.create_model(TIMM[name], **kw)
    if not track_running_stats:             # batch statistics always (as Conv4/ResNet-12 with track=False)
        for m in body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None
    return body


def build_backbone(name: str, in_channels: int, width: int, track_running_stats: bool = True,
                   image_size: int | None = None) -> nn.Module:
    """Build a body by name; ``width`` is Conv4's channel count or ResNet-12's first width (64 = x1);
    the timm bodies (``resnet18``, ``mobilenetv2``, ``swin``: Tables 6-7) keep their own widths and
    ignore it; ``swin`` is built for ``image_size``.

    Example:
        >>> build_backbone("resnet12", 3, 16)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 160])
        >>> build_backbone("mobilenetv2", 1, 0)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 1280])
    """
    if name == "conv4":
        return Conv4(in_channels, width, track_running_stats=track_running_stats)
    if name == "resnet12":
        return ResNet12(in_channels, width / 64, track_running_stats=track_running_stats)
    if name in TIMM:
        return _timm_body(name, in_channels, image_size, track_running_stats)
    raise KeyError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


@torch.no_grad()
def feature_dim(body: nn.Module, in_channels: int, image_size: int) -> int:
    """The number of features ``body`` gives for ``image_size`` images (its train/eval mode is kept).

    Example:
        >>> body = Conv4(1, 8).train()
        >>> feature_dim(body, 1, 84), feature_dim(body, 1, 28), body.training
        (200, 8, True)
    """
    was = body.training
    body.eval()
    d = body(torch.zeros(2, in_channels, image_size, image_size)).shape[1]
    body.train(was)
    return int(d)
