// The Node-API module: tensor storage (copies in and out of JS typed arrays), threads, device, memory statistics,
// and the kernels of ops.cc. ml/libtorch/ builds a tfjs backend on top of it.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/Context.h>

#include <cstring>

#include "caching-allocator.h"
#include "ops.h"
#include "tensor-handle.h"

#ifndef DISTILLERY_TORCH_VERSION
#define DISTILLERY_TORCH_VERSION "unknown"
#endif

namespace distillery {
namespace {

template <typename F>
auto Try(const Napi::CallbackInfo& info, const char* what, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string("libtorch ") + what + " failed on " + CurrentDevice().str() + ": " +
                                           e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("libtorch ") + what + " failed: " + e.what());
  }
}

size_t ElementSize(DType d) { return d == DType::kBool ? 1 : 4; }

// (typedArray, shape, dtypeCode) -> handle: a copy of the values on the current device.
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  return Try(info, "write", [&] {
    Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
    std::vector<int64_t> shape = IntsArg(info, 1);
    DType d = static_cast<DType>(IntArg(info, 2));
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    size_t bytes = static_cast<size_t>(n) * ElementSize(d);
    TORCH_CHECK(arr.ByteLength() == bytes, "write: ", arr.ByteLength(), " bytes given for ", n, " elements");
    const uint8_t* src = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    at::Tensor cpu = at::empty(shape, at::TensorOptions().dtype(ScalarTypeOf(d)));
    if (bytes > 0) std::memcpy(cpu.data_ptr(), src, bytes);
    return Wrap(info.Env(), CurrentDevice().is_cpu() ? cpu : cpu.to(CurrentDevice()));
  });
}

// (handle) -> Float32Array | Int32Array | Uint8Array with the values in row-major order.
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  return Try(info, "read", [&]() -> Napi::Value {
    at::Tensor t = TensorArg(info, 0).to(at::kCPU).contiguous();
    DType d = DTypeOf(t.scalar_type());
    size_t n = static_cast<size_t>(t.numel());
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), n * ElementSize(d));
    if (n > 0) std::memcpy(buf.Data(), t.data_ptr(), n * ElementSize(d));
    switch (d) {
      case DType::kFloat32: return Napi::Float32Array::New(info.Env(), n, buf, 0);
      case DType::kInt32: return Napi::Int32Array::New(info.Env(), n, buf, 0);
      case DType::kBool: return Napi::Uint8Array::New(info.Env(), n, buf, 0);
    }
    return info.Env().Undefined();
  });
}

// (handle): frees the tensor now (the handle stays, empty).
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Value v = info[0];
  if (v.IsExternal()) v.As<Napi::External<TensorBox>>().Data()->tensor.reset();
  return info.Env().Undefined();
}

// (handle) -> [dtypeCode, ...shape]
Napi::Value Info(const Napi::CallbackInfo& info) {
  const at::Tensor& t = TensorArg(info, 0);
  Napi::Array out = Napi::Array::New(info.Env(), t.dim() + 1);
  out.Set(0u, static_cast<int32_t>(DTypeOf(t.scalar_type())));
  for (int64_t d = 0; d < t.dim(); d++) out.Set(static_cast<uint32_t>(d + 1), static_cast<double>(t.size(d)));
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(static_cast<int>(IntArg(info, 0)));
  return info.Env().Undefined();
}
Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// (kind "cpu" | "cuda", index)
Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  return Try(info, "set device", [&] {
    std::string kind = StringArg(info, 0);
    if (kind == "cpu") {
      SetCurrentDevice(at::Device(at::kCPU));
    } else {
      TORCH_CHECK(kind == "cuda", "unknown device kind ", kind);
      TORCH_CHECK(at::hasCUDA(), "this libtorch has no CUDA support or no CUDA device is visible");
      SetCurrentDevice(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(IntArg(info, 1))));
    }
    return info.Env().Undefined();
  });
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  AllocatorStats s = CachingAllocatorStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("inUse", static_cast<double>(s.in_use));
  o.Set("cached", static_cast<double>(s.cached));
  o.Set("peakInUse", static_cast<double>(s.peak_in_use));
  o.Set("osAllocated", static_cast<double>(s.os_allocated));
  return o;
}
Napi::Value ResetPeakStat(const Napi::CallbackInfo& info) {
  ResetPeak();
  return info.Env().Undefined();
}
Napi::Value EmptyCacheFn(const Napi::CallbackInfo& info) {
  EmptyCache();
  return info.Env().Undefined();
}
Napi::Value SetCacheLimitFn(const Napi::CallbackInfo& info) {
  SetCacheLimit(static_cast<uint64_t>(NumberArg(info, 0)));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallCachingAllocator();
  exports.Set("torchVersion", Napi::String::New(env, DISTILLERY_TORCH_VERSION));
  exports.Set("cudaAvailable", Napi::Boolean::New(env, at::hasCUDA()));
  exports.Set("fromArray", Napi::Function::New(env, FromArray, "fromArray"));
  exports.Set("toArray", Napi::Function::New(env, ToArray, "toArray"));
  exports.Set("release", Napi::Function::New(env, Release, "release"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("setDevice", Napi::Function::New(env, SetDevice, "setDevice"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats, "memoryStats"));
  exports.Set("resetPeak", Napi::Function::New(env, ResetPeakStat, "resetPeak"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCacheFn, "emptyCache"));
  exports.Set("setCacheLimit", Napi::Function::New(env, SetCacheLimitFn, "setCacheLimit"));
  RegisterOps(env, exports);
  return exports;
}

}  // namespace
}  // namespace distillery

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return distillery::Init(env, exports); }

NODE_API_MODULE(distillery_torch, InitModule)
