/**
 * Data and tensor I/O speed: Fashion-MNIST load (when the Debian files are installed), CIFAR-10 batch decoding,
 * and a trajectory-sized safetensors write/read (51 snapshots of the 320,010-parameter CIFAR ConvNet, 65 MB).
 */
import {mkdtemp, rm} from 'node:fs/promises';
import {existsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {decodeBatches} from '../../ml/data/cifar10.js';
import {FASHION_MNIST_DEFAULT_ROOT, loadFashionMnist} from '../../ml/data/fashion-mnist.js';
import {readSafetensors, stackedTensor, writeSafetensors} from '../../ml/io/safetensors.js';

async function timed<T>(work: () => Promise<T> | T): Promise<{value: T; ms: number}> {
  const start = performance.now();
  const value = await work();
  return {value, ms: performance.now() - start};
}

/** Runs the data/tensor I/O benchmarks and reports one line each. */
export async function bench(report: (line: string) => void): Promise<void> {
  if (existsSync(join(FASHION_MNIST_DEFAULT_ROOT, 'train-images-idx3-ubyte.gz'))) {
    const fashion = await timed(() => loadFashionMnist({split: 'train'}));
    report(`data-io: Fashion-MNIST train (${fashion.value.n} images, gunzip + normalise): ${fashion.ms.toFixed(0)} ms`);
  } else {
    report(`data-io: Fashion-MNIST not installed in ${FASHION_MNIST_DEFAULT_ROOT}; load not measured`);
  }

  const records = 10000;
  const bytes = new Uint8Array(records * 3073);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 255;
  for (let r = 0; r < records; r++) bytes[r * 3073] = r % 10;
  const cifar = await timed(() => decodeBatches([{file: 'synthetic', bytes}]));
  report(`data-io: CIFAR-10 decode of one 10000-record batch to normalised NHWC: ${cifar.ms.toFixed(0)} ms`);

  const dir = await mkdtemp(join(tmpdir(), 'distillery-bench-io-'));
  try {
    const snapshots = Array.from({length: 51}, (_, s) => new Float32Array(320010).fill(s));
    const path = join(dir, 'trajectory.safetensors');
    const write = await timed(() => writeSafetensors(path, {theta: stackedTensor(snapshots)}));
    const read = await timed(() => readSafetensors(path));
    const mb = (51 * 320010 * 4) / 1e6;
    report(`data-io: safetensors ${mb.toFixed(0)} MB trajectory: write ${write.ms.toFixed(0)} ms, read ${read.ms.toFixed(0)} ms`);
  } finally {
    await rm(dir, {recursive: true});
  }
}
