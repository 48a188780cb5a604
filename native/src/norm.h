// Fused instance normalisation kernels (see norm.cc).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace distillery {

/** y = (x - mean) / sqrt(var + eps) * gamma + beta, statistics per image and channel over H and W. x is NHWC. */
at::Tensor InstanceNormForward(const at::Tensor& x, const at::Tensor& gamma, const at::Tensor& beta, double eps);

/** [dx, dgamma, dbeta] of InstanceNormForward for the incoming gradient dy. */
std::vector<at::Tensor> InstanceNormBackward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& gamma, double eps);

/** Training-mode batch norm: [y, mean, var] with mean and biased var per channel over N, H and W. */
std::vector<at::Tensor> BatchNormForward(const at::Tensor& x, const at::Tensor& gamma, const at::Tensor& beta, double eps);

/** [dx, dgamma, dbeta] of BatchNormForward's y for the incoming gradient dy. */
std::vector<at::Tensor> BatchNormBackward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& gamma, double eps);

}  // namespace distillery
