/**
 * A plain forward pass over a PyTorch state dict, in PyTorch's layouts and layer definitions (NCHW activations,
 * `nn.Conv2d` weights [out, in, kh, kw], `nn.Linear` weights [out, in], `nn.GroupNorm`, `nn.BatchNorm2d` in eval
 * mode, `nn.AvgPool2d(2)`, global average pooling), written with loops and nothing from ml/: the export tests run the
 * reference ConvNet and ResNet (docs/torch_models.py) on the exported tensors with it, so a wrong name, transpose or
 * flattening order shows up as wrong logits without needing PyTorch.
 */

/** An NCHW (or [N, F]) array. */
export interface Nd {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The tensors of a state dict by name. */
export type StateDict = ReadonlyMap<string, Nd>;

function get(state: StateDict, name: string): Nd {
  const t = state.get(name);
  if (t === undefined) throw new Error(`the state dict has no ${name}`);
  return t;
}

function conv2d(x: Nd, w: Nd, bias: Nd | undefined, stride: number, pad: number): Nd {
  const [n = 0, c = 0, h = 0, wd = 0] = x.shape;
  const [o = 0, ci = 0, kh = 0, kw = 0] = w.shape;
  if (ci !== c) throw new Error(`conv: ${c} input channels, weight expects ${ci}`);
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const out = new Float32Array(n * o * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let sum = bias?.data[oc] ?? 0;
          for (let ic = 0; ic < c; ic++) {
            for (let dy = 0; dy < kh; dy++) {
              const iy = y * stride - pad + dy;
              if (iy < 0 || iy >= h) continue;
              for (let dx = 0; dx < kw; dx++) {
                const ix = xx * stride - pad + dx;
                if (ix < 0 || ix >= wd) continue;
                sum += (x.data[((b * c + ic) * h + iy) * wd + ix] ?? 0) * (w.data[((oc * c + ic) * kh + dy) * kw + dx] ?? 0);
              }
            }
          }
          out[((b * o + oc) * oh + y) * ow + xx] = sum;
        }
      }
    }
  }
  return {shape: [n, o, oh, ow], data: out};
}

/** GroupNorm with `groups` groups (biased variance, eps 1e-5) and a per-channel affine. */
function groupNorm(x: Nd, groups: number, gamma: Nd, beta: Nd): Nd {
  const [n = 0, c = 0, h = 0, w = 0] = x.shape;
  const per = (c / groups) * h * w;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const start = (b * c + g * (c / groups)) * h * w;
      let mean = 0;
      for (let i = 0; i < per; i++) mean += x.data[start + i] ?? 0;
      mean /= per;
      let variance = 0;
      for (let i = 0; i < per; i++) variance += ((x.data[start + i] ?? 0) - mean) ** 2;
      variance /= per;
      for (let i = 0; i < per; i++) {
        const ch = g * (c / groups) + Math.floor(i / (h * w));
        out[start + i] = (((x.data[start + i] ?? 0) - mean) / Math.sqrt(variance + 1e-5)) * (gamma.data[ch] ?? 0) + (beta.data[ch] ?? 0);
      }
    }
  }
  return {shape: x.shape, data: out};
}

/** BatchNorm2d in eval mode: the running statistics normalise. */
function batchNormEval(x: Nd, state: StateDict, prefix: string): Nd {
  const [, c = 0, h = 0, w = 0] = x.shape;
  const [mean, variance, gamma, beta] = ['running_mean', 'running_var', 'weight', 'bias'].map((p) => get(state, `${prefix}.${p}`));
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    out[i] = (((x.data[i] ?? 0) - (mean?.data[ch] ?? 0)) / Math.sqrt((variance?.data[ch] ?? 0) + 1e-5)) * (gamma?.data[ch] ?? 0) + (beta?.data[ch] ?? 0);
  }
  return {shape: x.shape, data: out};
}

/** The norm module at `prefix`: batch norm when it has running statistics, else GroupNorm with `groups`. */
function normAt(x: Nd, state: StateDict, prefix: string, groups: (channels: number) => number): Nd {
  if (state.has(`${prefix}.running_mean`)) return batchNormEval(x, state, prefix);
  return groupNorm(x, groups(x.shape[1] ?? 1), get(state, `${prefix}.weight`), get(state, `${prefix}.bias`));
}

function relu(x: Nd): Nd {
  return {shape: x.shape, data: x.data.map((v) => (v > 0 ? v : 0))};
}

function add(a: Nd, b: Nd): Nd {
  return {shape: a.shape, data: a.data.map((v, i) => v + (b.data[i] ?? 0))};
}

function avgPool2(x: Nd): Nd {
  const [n = 0, c = 0, h = 0, w = 0] = x.shape;
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const out = new Float32Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        const at = (yy: number, xi: number): number => x.data[(p * h + yy) * w + xi] ?? 0;
        out[(p * oh + y) * ow + xx] = (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) + at(2 * y + 1, 2 * xx + 1)) / 4;
      }
    }
  }
  return {shape: [n, c, oh, ow], data: out};
}

/** `nn.Linear` on [N, F] (an NCHW array is flattened as torch.flatten(x, 1) does: it already is, in memory). */
function linear(x: Nd, w: Nd, b: Nd): Nd {
  const n = x.shape[0] ?? 0;
  const f = x.data.length / n;
  const [o = 0, fin = 0] = w.shape;
  if (fin !== f) throw new Error(`linear: ${f} features, weight expects ${fin}`);
  const out = new Float32Array(n * o);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < o; k++) {
      let sum = b.data[k] ?? 0;
      for (let i = 0; i < f; i++) sum += (x.data[r * f + i] ?? 0) * (w.data[k * f + i] ?? 0);
      out[r * o + k] = sum;
    }
  }
  return {shape: [n, o], data: out};
}

function globalAverage(x: Nd): Nd {
  const [n = 0, c = 0, h = 0, w = 0] = x.shape;
  const out = new Float32Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let sum = 0;
    for (let i = 0; i < h * w; i++) sum += x.data[p * h * w + i] ?? 0;
    out[p] = sum / (h * w);
  }
  return {shape: [n, c], data: out};
}

/** The reference ConvNet (`features` = per block conv, norm, ReLU, pool; `classifier`) on NCHW input `x`. */
export function convNetForward(state: StateDict, x: Nd, arch: {depth: number; norm: string; channels: number; imageSize: number}): Nd {
  const perBlock = arch.norm === 'none' ? 3 : 4;
  let y = x;
  for (let d = 0; d < arch.depth; d++) {
    const pad = d === 0 && arch.channels === 1 && arch.imageSize === 28 ? 3 : 1;
    y = conv2d(y, get(state, `features.${d * perBlock}.weight`), get(state, `features.${d * perBlock}.bias`), 1, pad);
    if (arch.norm !== 'none') y = normAt(y, state, `features.${d * perBlock + 1}`, (c) => c);
    y = avgPool2(relu(y));
  }
  return linear(y, get(state, 'classifier.weight'), get(state, 'classifier.bias'));
}

/** The reference ResNet-18 (CIFAR stem, basic blocks, `shortcut`, `linear`) on NCHW input `x`. */
export function resNet18Forward(state: StateDict, x: Nd): Nd {
  const instance = (c: number): number => c;
  const convAt = (input: Nd, name: string, stride: number): Nd => {
    const w = get(state, `${name}.weight`);
    return conv2d(input, w, undefined, stride, w.shape[2] === 3 ? 1 : 0);
  };
  let y = relu(normAt(convAt(x, 'conv1', 1), state, 'bn1', instance));
  for (let stage = 1; stage <= 4; stage++) {
    for (let b = 0; state.has(`layer${stage}.${b}.conv1.weight`); b++) {
      const p = `layer${stage}.${b}`;
      const stride = b === 0 && stage > 1 ? 2 : 1;
      let z = relu(normAt(convAt(y, `${p}.conv1`, stride), state, `${p}.bn1`, instance));
      z = normAt(convAt(z, `${p}.conv2`, 1), state, `${p}.bn2`, instance);
      const skip = state.has(`${p}.shortcut.0.weight`) ? normAt(convAt(y, `${p}.shortcut.0`, stride), state, `${p}.shortcut.1`, instance) : y;
      y = relu(add(z, skip));
    }
  }
  return linear(globalAverage(y), get(state, 'linear.weight'), get(state, 'linear.bias'));
}
