"""The PyTorch side of `npm run bench -- ml`: the same measurements as test/bench/ml.bench.ts, written with PyTorch's
own modules (nn.Conv2d, nn.GroupNorm, nn.BatchNorm2d, autograd with create_graph), so the ratios compare the
libtorch tfjs backend with what a PyTorch user gets on the same machine.

Usage: python3 reference.py THREADS MEASUREMENT...   (prints one JSON object per line)
Measurements: convnet-cifar, convnet-fmnist, resnet18, mtt-2, mtt-10, mtt-20-w128.
"""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 256


def convnet(channels, image_size, width=128, depth=3):
    layers = []
    size = image_size
    for d in range(depth):
        # The first conv pads 28x28 single-channel images by 3 (to 32x32 feature maps), as ml/convnet.ts does.
        pad = 3 if d == 0 and channels == 1 and image_size == 28 else 1
        layers += [nn.Conv2d(channels if d == 0 else width, width, 3, padding=pad), nn.GroupNorm(width, width),
                   nn.ReLU(), nn.AvgPool2d(2)]
        size = (size + 2 * pad - 2) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * size * size, 10))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


def resnet18(width=64):
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for i, planes in enumerate([width, 2 * width, 4 * width, 8 * width]):
        for b in range(2):
            layers.append(Block(cin, planes, 2 if (i > 0 and b == 0) else 1))
            cin = planes
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))


def training_step_rate(net, shape, batch, steps=2):
    """Images per second of an SGD step (forward, backward, update) on random data."""
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, *shape)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def functional_convnet(params, x, pads):
    """The ConvNet of ml/convnet.ts on a list of parameter tensors (conv weights, norm affine, linear)."""
    i = 0
    for pad in pads:
        w, b, gamma, beta = params[i:i + 4]
        i += 4
        x = F.conv2d(x, w, b, padding=pad)
        x = F.group_norm(x, x.shape[1], gamma, beta)
        x = F.avg_pool2d(F.relu(x), 2)
    return F.linear(x.flatten(1), params[i], params[i + 1])


def mtt_iteration_seconds(steps, width, images=100):
    """One meta-gradient (w.r.t. the images and the learnable lr) through `steps` unrolled SGD steps, full unroll."""
    torch.manual_seed(0)
    net = convnet(1, 28, width=width)
    pads = [3, 1, 1]
    theta0 = [p.detach().clone() for p in net.parameters()]
    theta_star = [t + 0.01 * torch.randn_like(t) for t in theta0]
    x = torch.randn(images, 1, 28, 28, requires_grad=True)
    y = torch.arange(images) // (images // 10)
    lr = torch.tensor(0.01, requires_grad=True)

    def once():
        theta = [t.clone().requires_grad_(True) for t in theta0]
        for _ in range(steps):
            loss = F.cross_entropy(functional_convnet(theta, x, pads), y)
            grads = torch.autograd.grad(loss, theta, create_graph=True)
            theta = [t - lr * g for t, g in zip(theta, grads)]
        num = sum(((t - s) ** 2).sum() for t, s in zip(theta, theta_star))
        den = sum(((t - s) ** 2).sum() for t, s in zip(theta0, theta_star))
        gx, glr = torch.autograd.grad(num / den, [x, lr])
        return gx, glr

    once()
    start = time.perf_counter()
    once()
    return time.perf_counter() - start


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    for name in sys.argv[2:]:
        if name == 'convnet-cifar':
            value = training_step_rate(convnet(3, 32), (3, 32, 32), BATCH)
        elif name == 'convnet-fmnist':
            value = training_step_rate(convnet(1, 28), (1, 28, 28), BATCH)
        elif name == 'resnet18':
            value = training_step_rate(resnet18(), (3, 32, 32), 64)
        elif name == 'mtt-2':
            value = mtt_iteration_seconds(2, 32)
        elif name == 'mtt-10':
            value = mtt_iteration_seconds(10, 32)
        elif name == 'mtt-20-w128':
            value = mtt_iteration_seconds(20, 128)
        else:
            raise SystemExit(f'unknown measurement {name}')
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({'name': name, 'value': value, 'threads': torch.get_num_threads(),
                          'torch': torch.__version__, 'peakRssMiB': peak_mib}), flush=True)


if __name__ == '__main__':
    main()
