// How tensors cross the Node-API boundary: a JS value owning one at::Tensor, and the conversions to and from JS.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace distillery {

/** The tfjs dtypes the backend stores, with the codes the JS side uses. */
enum class DType : int32_t { kFloat32 = 0, kInt32 = 1, kBool = 2 };

/** An owned tensor. `Release` frees its memory at once, before the JS handle is collected. */
struct TensorBox {
  at::Tensor tensor;
};

/** Wraps `t` in a new JS handle, first mapping dtypes tfjs lacks onto its own (int64 -> int32, float64 -> float32). */
Napi::Value Wrap(Napi::Env env, at::Tensor t);

/** The tensor of the handle at argument `i`; throws a JS TypeError for anything else or a released handle. */
const at::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i);

/** Integer-array, number, boolean and string arguments. */
std::vector<int64_t> IntsArg(const Napi::CallbackInfo& info, size_t i);
int64_t IntArg(const Napi::CallbackInfo& info, size_t i);
double NumberArg(const Napi::CallbackInfo& info, size_t i);
bool BoolArg(const Napi::CallbackInfo& info, size_t i);
std::string StringArg(const Napi::CallbackInfo& info, size_t i);
/** An array of tensor handles. */
std::vector<at::Tensor> TensorsArg(const Napi::CallbackInfo& info, size_t i);

at::ScalarType ScalarTypeOf(DType d);
DType DTypeOf(at::ScalarType s);

/** Where new tensors are created (the CPU, or one CUDA device). */
at::Device CurrentDevice();
void SetCurrentDevice(at::Device device);

/** Options for a new tensor of tfjs dtype `d` on the current device. */
at::TensorOptions OptionsFor(DType d);

}  // namespace distillery
