// Instance normalisation (GroupNorm with one group per channel) on NHWC data, forward and backward in two passes
// each, where the composite tfjs version costs about eight passes forward and fifteen backward over the activations:
// the ConvNet's norm is most of the element-wise work of a training step. The second-order gradient stays with
// tfjs (ml/fused-norm.ts differentiates a composite of the backward formula).
#include "norm.h"

#include "tensor-handle.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace distillery {
namespace {

struct Dims {
  int64_t n, hw, c;
};

Dims DimsOf(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "instance norm takes NHWC tensors, got rank ", x.dim());
  TORCH_CHECK(x.scalar_type() == at::kFloat, "instance norm takes float32 tensors");
  return {x.size(0), x.size(1) * x.size(2), x.size(3)};
}

// Per-channel mean and 1/sqrt(var + eps) of one image's [hw, c] rows, accumulated in double.
void Moments(const float* x, const Dims& d, double eps, double* mean, double* rstd, double* scratch) {
  for (int64_t c = 0; c < d.c; c++) mean[c] = scratch[c] = 0;
  for (int64_t i = 0; i < d.hw; i++) {
    const float* row = x + i * d.c;
    for (int64_t c = 0; c < d.c; c++) {
      double v = row[c];
      mean[c] += v;
      scratch[c] += v * v;
    }
  }
  for (int64_t c = 0; c < d.c; c++) {
    mean[c] /= static_cast<double>(d.hw);
    double var = std::max(scratch[c] / static_cast<double>(d.hw) - mean[c] * mean[c], 0.0);
    rstd[c] = 1.0 / std::sqrt(var + eps);
  }
}

}  // namespace

at::Tensor InstanceNormForward(const at::Tensor& input, const at::Tensor& gamma_in, const at::Tensor& beta_in, double eps) {
  at::Tensor x = input.contiguous();
  Dims d = DimsOf(x);
  at::Tensor gamma = gamma_in.to(at::kFloat).contiguous(), beta = beta_in.to(at::kFloat).contiguous();
  TORCH_CHECK(gamma.numel() == d.c && beta.numel() == d.c, "instance norm: gamma and beta must have ", d.c, " values");
  at::Tensor y = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = gamma.data_ptr<float>();
  const float* bp = beta.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, d.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> mean(d.c), rstd(d.c), scratch(d.c);
    std::vector<float> scale(d.c), shift(d.c);
    for (int64_t n = begin; n < end; n++) {
      const float* xi = xp + n * d.hw * d.c;
      float* yi = yp + n * d.hw * d.c;
      Moments(xi, d, eps, mean.data(), rstd.data(), scratch.data());
      for (int64_t c = 0; c < d.c; c++) {
        scale[c] = static_cast<float>(rstd[c] * gp[c]);
        shift[c] = static_cast<float>(bp[c] - mean[c] * rstd[c] * gp[c]);
      }
      for (int64_t i = 0; i < d.hw; i++) {
        const float* row = xi + i * d.c;
        float* out = yi + i * d.c;
        for (int64_t c = 0; c < d.c; c++) out[c] = row[c] * scale[c] + shift[c];
      }
    }
  });
  return y;
}

std::vector<at::Tensor> InstanceNormBackward(const at::Tensor& dy_in, const at::Tensor& input, const at::Tensor& gamma_in,
                                             double eps) {
  at::Tensor x = input.contiguous(), dy = dy_in.contiguous();
  Dims d = DimsOf(x);
  TORCH_CHECK(dy.sizes() == x.sizes(), "instance norm gradient: dy and x differ in shape");
  at::Tensor gamma = gamma_in.to(at::kFloat).contiguous();
  at::Tensor dx = at::empty_like(x);
  // Per-image channel sums, reduced over images afterwards in a fixed order (the same for any thread count).
  std::vector<double> sumDy(d.n * d.c), sumDyXhat(d.n * d.c);
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  const float* gp = gamma.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  at::parallel_for(0, d.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> mean(d.c), rstd(d.c), scratch(d.c);
    std::vector<float> a(d.c), b(d.c), k(d.c);
    for (int64_t n = begin; n < end; n++) {
      const float* xi = xp + n * d.hw * d.c;
      const float* dyi = dyp + n * d.hw * d.c;
      float* dxi = dxp + n * d.hw * d.c;
      Moments(xi, d, eps, mean.data(), rstd.data(), scratch.data());
      double* s1 = sumDy.data() + n * d.c;
      double* s2 = sumDyXhat.data() + n * d.c;
      for (int64_t c = 0; c < d.c; c++) s1[c] = s2[c] = 0;
      // sum(dy) and sum(dy * x) per channel; sum(dy * xhat) = rstd * (sum(dy * x) - mean * sum(dy)).
      for (int64_t i = 0; i < d.hw; i++) {
        const float* xr = xi + i * d.c;
        const float* dr = dyi + i * d.c;
        for (int64_t c = 0; c < d.c; c++) {
          s1[c] += dr[c];
          s2[c] += static_cast<double>(dr[c]) * xr[c];
        }
      }
      for (int64_t c = 0; c < d.c; c++) {
        s2[c] = rstd[c] * (s2[c] - mean[c] * s1[c]);
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), written as k * dy + a * x + b.
        double m = static_cast<double>(d.hw);
        double kk = gp[c] * rstd[c];
        double coef = kk * s2[c] / m * rstd[c];  // multiplies (x - mean)
        k[c] = static_cast<float>(kk);
        a[c] = static_cast<float>(-coef);
        b[c] = static_cast<float>(-kk * s1[c] / m + coef * mean[c]);
      }
      for (int64_t i = 0; i < d.hw; i++) {
        const float* xr = xi + i * d.c;
        const float* dr = dyi + i * d.c;
        float* out = dxi + i * d.c;
        for (int64_t c = 0; c < d.c; c++) out[c] = k[c] * dr[c] + a[c] * xr[c] + b[c];
      }
    }
  });
  at::Tensor dgamma = at::zeros({d.c}, x.options()), dbeta = at::zeros({d.c}, x.options());
  float* dg = dgamma.data_ptr<float>();
  float* db = dbeta.data_ptr<float>();
  for (int64_t c = 0; c < d.c; c++) {
    double g = 0, bsum = 0;
    for (int64_t n = 0; n < d.n; n++) {
      g += sumDyXhat[n * d.c + c];
      bsum += sumDy[n * d.c + c];
    }
    dg[c] = static_cast<float>(g);
    db[c] = static_cast<float>(bsum);
  }
  return {dx, dgamma, dbeta};
}

// ---- batch norm (training mode): statistics per channel over N, H and W ---------------------------------------
// The rows of an NHWC tensor are cut into fixed chunks whose partial sums are added in chunk order afterwards, so
// the result does not depend on how many threads computed the chunks.

namespace {

constexpr int64_t kChunkRows = 256;

// Per-channel sums over rows [0, rows) of a [rows, c] matrix: out1 += f1(row), out2 += f2(row), chunk by chunk.
template <typename F>
void ChunkedChannelSums(int64_t rows, int64_t c, double* out1, double* out2, F accumulate) {
  int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  std::vector<double> partial1(chunks * c, 0.0), partial2(chunks * c, 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; k++) {
      accumulate(k * kChunkRows, std::min(rows, (k + 1) * kChunkRows), partial1.data() + k * c, partial2.data() + k * c);
    }
  });
  for (int64_t j = 0; j < c; j++) out1[j] = out2[j] = 0;
  for (int64_t k = 0; k < chunks; k++) {
    for (int64_t j = 0; j < c; j++) {
      out1[j] += partial1[k * c + j];
      out2[j] += partial2[k * c + j];
    }
  }
}

struct ChannelMoments {
  std::vector<double> mean, var, rstd;
};

ChannelMoments BatchMoments(const float* x, int64_t rows, int64_t c, double eps) {
  ChannelMoments m{std::vector<double>(c), std::vector<double>(c), std::vector<double>(c)};
  std::vector<double> sq(c);
  ChunkedChannelSums(rows, c, m.mean.data(), sq.data(), [&](int64_t r0, int64_t r1, double* s1, double* s2) {
    for (int64_t r = r0; r < r1; r++) {
      const float* row = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        double v = row[j];
        s1[j] += v;
        s2[j] += v * v;
      }
    }
  });
  for (int64_t j = 0; j < c; j++) {
    m.mean[j] /= static_cast<double>(rows);
    m.var[j] = std::max(sq[j] / static_cast<double>(rows) - m.mean[j] * m.mean[j], 0.0);
    m.rstd[j] = 1.0 / std::sqrt(m.var[j] + eps);
  }
  return m;
}

}  // namespace

std::vector<at::Tensor> BatchNormForward(const at::Tensor& input, const at::Tensor& gamma_in, const at::Tensor& beta_in, double eps) {
  at::Tensor x = input.contiguous();
  Dims d = DimsOf(x);
  int64_t rows = d.n * d.hw;
  at::Tensor gamma = gamma_in.to(at::kFloat).contiguous(), beta = beta_in.to(at::kFloat).contiguous();
  TORCH_CHECK(gamma.numel() == d.c && beta.numel() == d.c, "batch norm: gamma and beta must have ", d.c, " values");
  const float* xp = x.data_ptr<float>();
  ChannelMoments m = BatchMoments(xp, rows, d.c, eps);
  std::vector<float> scale(d.c), shift(d.c);
  const float* gp = gamma.data_ptr<float>();
  const float* bp = beta.data_ptr<float>();
  at::Tensor mean = at::empty({d.c}, x.options()), var = at::empty({d.c}, x.options());
  for (int64_t j = 0; j < d.c; j++) {
    scale[j] = static_cast<float>(m.rstd[j] * gp[j]);
    shift[j] = static_cast<float>(bp[j] - m.mean[j] * m.rstd[j] * gp[j]);
    mean.data_ptr<float>()[j] = static_cast<float>(m.mean[j]);
    var.data_ptr<float>()[j] = static_cast<float>(m.var[j]);
  }
  at::Tensor y = at::empty_like(x);
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, kChunkRows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* row = xp + r * d.c;
      float* out = yp + r * d.c;
      for (int64_t j = 0; j < d.c; j++) out[j] = row[j] * scale[j] + shift[j];
    }
  });
  return {y, mean, var};
}

std::vector<at::Tensor> BatchNormBackward(const at::Tensor& dy_in, const at::Tensor& input, const at::Tensor& gamma_in, double eps) {
  at::Tensor x = input.contiguous(), dy = dy_in.contiguous();
  Dims d = DimsOf(x);
  TORCH_CHECK(dy.sizes() == x.sizes(), "batch norm gradient: dy and x differ in shape");
  int64_t rows = d.n * d.hw;
  at::Tensor gamma = gamma_in.to(at::kFloat).contiguous();
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  const float* gp = gamma.data_ptr<float>();
  ChannelMoments m = BatchMoments(xp, rows, d.c, eps);
  std::vector<double> sumDy(d.c), sumDyX(d.c);
  ChunkedChannelSums(rows, d.c, sumDy.data(), sumDyX.data(), [&](int64_t r0, int64_t r1, double* s1, double* s2) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = xp + r * d.c;
      const float* dr = dyp + r * d.c;
      for (int64_t j = 0; j < d.c; j++) {
        s1[j] += dr[j];
        s2[j] += static_cast<double>(dr[j]) * xr[j];
      }
    }
  });
  at::Tensor dgamma = at::empty({d.c}, x.options()), dbeta = at::empty({d.c}, x.options());
  std::vector<float> k(d.c), a(d.c), b(d.c);
  double total = static_cast<double>(rows);
  for (int64_t j = 0; j < d.c; j++) {
    double sdyxhat = m.rstd[j] * (sumDyX[j] - m.mean[j] * sumDy[j]);
    dgamma.data_ptr<float>()[j] = static_cast<float>(sdyxhat);
    dbeta.data_ptr<float>()[j] = static_cast<float>(sumDy[j]);
    double kk = gp[j] * m.rstd[j];
    double coef = kk * sdyxhat / total * m.rstd[j];
    k[j] = static_cast<float>(kk);
    a[j] = static_cast<float>(-coef);
    b[j] = static_cast<float>(-kk * sumDy[j] / total + coef * m.mean[j]);
  }
  at::Tensor dx = at::empty_like(x);
  float* dxp = dx.data_ptr<float>();
  at::parallel_for(0, rows, kChunkRows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = xp + r * d.c;
      const float* dr = dyp + r * d.c;
      float* out = dxp + r * d.c;
      for (int64_t j = 0; j < d.c; j++) out[j] = k[j] * dr[j] + a[j] * xr[j] + b[j];
    }
  });
  return {dx, dgamma, dbeta};
}

}  // namespace distillery
