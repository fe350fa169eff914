from .backbones import Conv4, ResNet12, build_backbone
from .heads import HEADS, head_forward, head_shapes, init_head

__all__ = ["Conv4", "ResNet12", "build_backbone", "HEADS", "head_forward", "head_shapes", "init_head"]
