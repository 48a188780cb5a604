"""Reference PyTorch definitions of distillery's networks, and a safetensors reader that needs only torch and numpy.

`distillery export FILE INSTANCE --out PATH` writes a trained network (a student, the teacher, an expert after an
epoch) as a state dict whose names and layouts are those of these modules, so `load_state_dict` (strict) takes it
as it is. See docs/pytorch.md.

- ConvNet: the ConvNet of the dataset-distillation reference code. `features` holds, per block, a 3x3 conv (with bias),
  the norm, ReLU and a 2x2 average pool; `classifier` is the linear head on the features flattened in NCHW order. The
  first conv pads 28x28 single-channel images (MNIST, Fashion-MNIST) by 3, to 32x32 feature maps.
- ResNet: ResNet-18 (basic blocks) and ResNet-50 (bottlenecks, stride on the 3x3 conv) with the CIFAR stem (a 3x3
  stride-1 conv, no max-pool), projection shortcuts named `shortcut`, global average pooling and a head named `linear`.

Norms: 'instance' is GroupNorm with one group per channel, 'group' GroupNorm with gcd(32, channels) groups, 'batch'
BatchNorm2d; eps 1e-5 everywhere. Inputs are NCHW, normalised per channel with the mean and std of the data the network
was trained on (the exported file's `mean` and `std` metadata).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def norm_layer(kind, channels, groups=32):
    """The norm module of `kind` ('instance', 'group' or 'batch') over `channels` channels."""
    if kind == 'instance':
        return nn.GroupNorm(channels, channels)
    if kind == 'group':
        return nn.GroupNorm(math.gcd(groups, channels), channels)
    if kind == 'batch':
        return nn.BatchNorm2d(channels)
    raise ValueError(f'unknown norm {kind!r}')


class ConvNet(nn.Module):
    """`depth` blocks of conv 3x3 -> norm -> ReLU -> average pool 2x2, then a linear classifier."""

    def __init__(self, channels, classes, width=128, depth=3, norm='instance', image_size=32):
        super().__init__()
        layers = []
        size = image_size
        for d in range(depth):
            pad = 3 if d == 0 and channels == 1 and image_size == 28 else 1
            layers.append(nn.Conv2d(channels if d == 0 else width, width, 3, padding=pad))
            if norm != 'none':
                layers.append(norm_layer(norm, width))
            layers += [nn.ReLU(), nn.AvgPool2d(2)]
            size = (size + 2 * pad - 2) // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * size * size, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(norm, planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), norm_layer(norm, planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = norm_layer(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = norm_layer(norm, planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = norm_layer(norm, planes * 4)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes * 4:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), norm_layer(norm, planes * 4))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-18 or ResNet-50 with the CIFAR stem; `width_multiplier` scales every stage (64 stem channels at 1)."""

    def __init__(self, depth, channels, classes, width_multiplier=1.0, norm='batch'):
        super().__init__()
        block, counts = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]
        base = max(1, math.floor(64 * width_multiplier + 0.5))
        self.conv1 = nn.Conv2d(channels, base, 3, 1, 1, bias=False)
        self.bn1 = norm_layer(norm, base)
        cin = base
        for stage, count in enumerate(counts):
            planes = base * 2 ** stage
            blocks = []
            for b in range(count):
                blocks.append(block(cin, planes, 2 if b == 0 and stage > 0 else 1, norm))
                cin = planes * block.expansion
            setattr(self, f'layer{stage + 1}', nn.Sequential(*blocks))
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(arch):
    """The network an exported file's `arch` metadata describes (its JSON text, or the parsed dict)."""
    if isinstance(arch, str):
        arch = json.loads(arch)
    if arch['kind'] == 'convnet':
        return ConvNet(arch['channels'], arch['classes'], arch['width'], arch['depth'], arch['norm'], arch['imageSize'])
    if arch['kind'] == 'resnet':
        return ResNet(arch['depth'], arch['channels'], arch['classes'], arch['widthMultiplier'], arch['norm'])
    raise ValueError(f'unknown architecture {arch!r}')


_DTYPES = {'F32': '<f4', 'F64': '<f8', 'I64': '<i8', 'I32': '<i4', 'U8': 'u1'}


def load_safetensors(path):
    """(tensors, metadata) of a safetensors file; `safetensors.torch.load_file` reads the same tensors, if installed."""
    with open(path, 'rb') as f:
        size = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    metadata = header.pop('__metadata__', {})
    tensors = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        array = np.frombuffer(data[begin:end], dtype=_DTYPES[info['dtype']]).reshape(info['shape'])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata
