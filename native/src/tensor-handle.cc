#include "tensor-handle.h"

namespace distillery {
namespace {

at::Device g_device(at::kCPU);

void Finalize(Napi::Env, TensorBox* box) { delete box; }

}  // namespace

at::Device CurrentDevice() { return g_device; }
void SetCurrentDevice(at::Device device) { g_device = device; }

at::ScalarType ScalarTypeOf(DType d) {
  switch (d) {
    case DType::kFloat32: return at::kFloat;
    case DType::kInt32: return at::kInt;
    case DType::kBool: return at::kBool;
  }
  TORCH_CHECK(false, "unknown dtype code ", static_cast<int>(d));
}

DType DTypeOf(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return DType::kFloat32;
    case at::kInt: return DType::kInt32;
    case at::kBool: return DType::kBool;
    default: TORCH_CHECK(false, "internal: a result of dtype ", c10::toString(s), " has no tfjs dtype");
  }
}

at::TensorOptions OptionsFor(DType d) { return at::TensorOptions().dtype(ScalarTypeOf(d)).device(g_device); }

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kInt:
    case at::kBool: break;
    case at::kLong:
    case at::kShort:
    case at::kByte:
    case at::kChar: t = t.to(at::kInt); break;
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16: t = t.to(at::kFloat); break;
    default: TORCH_CHECK(false, "internal: a result of dtype ", c10::toString(t.scalar_type()), " has no tfjs dtype");
  }
  return Napi::External<TensorBox>::New(env, new TensorBox{std::move(t)}, Finalize);
}

const at::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  if (!v.IsExternal()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " is not a tensor handle");
  TensorBox* box = v.As<Napi::External<TensorBox>>().Data();
  if (!box->tensor.defined()) throw Napi::Error::New(info.Env(), "argument " + std::to_string(i) + " is a released tensor");
  return box->tensor;
}

std::vector<int64_t> IntsArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  if (!v.IsArray()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " is not an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out[k] = a.Get(k).As<Napi::Number>().Int64Value();
  return out;
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
double NumberArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
bool BoolArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Boolean>().Value(); }
std::string StringArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::String>().Utf8Value(); }

std::vector<at::Tensor> TensorsArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsExternal()) throw Napi::TypeError::New(info.Env(), "a tensor list holds a non-tensor");
    TensorBox* box = v.As<Napi::External<TensorBox>>().Data();
    if (!box->tensor.defined()) throw Napi::Error::New(info.Env(), "a tensor list holds a released tensor");
    out.push_back(box->tensor);
  }
  return out;
}

}  // namespace distillery
