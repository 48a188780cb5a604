#include "ops.h"

#include "norm.h"
#include "tensor-handle.h"

#include <ATen/ATen.h>

#include <limits>
#include <sstream>
#include <string>
#include <unordered_map>

namespace distillery {
namespace {

using Fn = at::Tensor (*)(const Napi::CallbackInfo&);

// ---- element-wise -------------------------------------------------------------------------------------------------

using Unary = at::Tensor (*)(const at::Tensor&);
using Binary = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

const std::unordered_map<std::string, Unary>& UnaryOps() {
  static const std::unordered_map<std::string, Unary> ops = {
      {"Abs", [](const at::Tensor& x) { return at::abs(x); }},
      {"Acos", [](const at::Tensor& x) { return at::acos(x); }},
      {"Acosh", [](const at::Tensor& x) { return at::acosh(x); }},
      {"Asin", [](const at::Tensor& x) { return at::asin(x); }},
      {"Asinh", [](const at::Tensor& x) { return at::asinh(x); }},
      {"Atan", [](const at::Tensor& x) { return at::atan(x); }},
      {"Atanh", [](const at::Tensor& x) { return at::atanh(x); }},
      {"Ceil", [](const at::Tensor& x) { return at::ceil(x); }},
      {"Cos", [](const at::Tensor& x) { return at::cos(x); }},
      {"Cosh", [](const at::Tensor& x) { return at::cosh(x); }},
      {"Elu", [](const at::Tensor& x) { return at::elu(x); }},
      {"Erf", [](const at::Tensor& x) { return at::erf(x); }},
      {"Exp", [](const at::Tensor& x) { return at::exp(x); }},
      {"Expm1", [](const at::Tensor& x) { return at::expm1(x); }},
      {"Floor", [](const at::Tensor& x) { return at::floor(x); }},
      {"IsFinite", [](const at::Tensor& x) { return at::isfinite(x); }},
      {"IsInf", [](const at::Tensor& x) { return at::isinf(x); }},
      {"IsNan", [](const at::Tensor& x) { return at::isnan(x); }},
      {"Log", [](const at::Tensor& x) { return at::log(x); }},
      {"Log1p", [](const at::Tensor& x) { return at::log1p(x); }},
      {"LogicalNot", [](const at::Tensor& x) { return at::logical_not(x); }},
      {"Neg", [](const at::Tensor& x) { return at::neg(x); }},
      {"Reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); }},
      {"Relu", [](const at::Tensor& x) { return at::relu(x); }},
      {"Relu6", [](const at::Tensor& x) { return at::clamp(x, 0, 6); }},
      {"Round", [](const at::Tensor& x) { return at::round(x); }},
      {"Rsqrt", [](const at::Tensor& x) { return at::rsqrt(x); }},
      {"Selu", [](const at::Tensor& x) { return at::selu(x); }},
      {"Sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
      {"Sign", [](const at::Tensor& x) { return at::sign(x); }},
      {"Sin", [](const at::Tensor& x) { return at::sin(x); }},
      {"Sinh", [](const at::Tensor& x) { return at::sinh(x); }},
      {"Softplus", [](const at::Tensor& x) { return at::softplus(x); }},
      {"Sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
      {"Square", [](const at::Tensor& x) { return at::square(x); }},
      {"Tan", [](const at::Tensor& x) { return at::tan(x); }},
      {"Tanh", [](const at::Tensor& x) { return at::tanh(x); }},
  };
  return ops;
}

const std::unordered_map<std::string, Binary>& BinaryOps() {
  static const std::unordered_map<std::string, Binary> ops = {
      {"Add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }},
      {"Sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }},
      {"Multiply", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }},
      {"RealDiv", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); }},
      // tfjs's FloorDiv always gives int32.
      {"FloorDiv", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b, "floor").to(at::kInt); }},
      {"Mod", [](const at::Tensor& a, const at::Tensor& b) { return at::remainder(a, b); }},
      {"Pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); }},
      {"Maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }},
      {"Minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }},
      {"SquaredDifference", [](const at::Tensor& a, const at::Tensor& b) { return at::square(at::sub(a, b)); }},
      {"Atan2", [](const at::Tensor& a, const at::Tensor& b) { return at::atan2(a, b); }},
      {"Equal", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }},
      {"NotEqual", [](const at::Tensor& a, const at::Tensor& b) { return at::ne(a, b); }},
      {"Greater", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }},
      {"GreaterEqual", [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); }},
      {"Less", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }},
      {"LessEqual", [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); }},
      {"LogicalAnd", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); }},
      {"LogicalOr", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); }},
      {"LogicalXor", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_xor(a, b); }},
      // dy where x > 0, else 0: the gradient of relu in one pass (registered with its gradient in ml/fast-grads.ts).
      {"ReluGrad", [](const at::Tensor& dy, const at::Tensor& x) { return at::threshold_backward(dy, x, 0); }},
      // tfjs's EluGrad(dy, y): dy where y > 0, dy * (y + 1) elsewhere.
      {"EluGrad", [](const at::Tensor& dy, const at::Tensor& y) { return at::where(y.gt(0), dy, dy * (y + 1)); }},
      {"Prelu", [](const at::Tensor& x, const at::Tensor& alpha) { return at::where(x.gt(0), x, x * alpha); }},
  };
  return ops;
}

at::Tensor UnaryOp(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0);
  auto it = UnaryOps().find(name);
  TORCH_CHECK(it != UnaryOps().end(), "no unary kernel ", name);
  return it->second(TensorArg(info, 1));
}

at::Tensor BinaryOp(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0);
  auto it = BinaryOps().find(name);
  TORCH_CHECK(it != BinaryOps().end(), "no binary kernel ", name);
  return it->second(TensorArg(info, 1), TensorArg(info, 2));
}

// (x, alpha)
at::Tensor LeakyRelu(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  return at::leaky_relu(x, NumberArg(info, 1));
}
// (x, alpha): tfjs's Step: 1 where x > 0, alpha elsewhere (NaN stays NaN).
at::Tensor Step(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  double alpha = NumberArg(info, 1);
  at::Tensor out = at::where(x.gt(0), at::ones({}, x.options()), at::full({}, alpha, x.options()));
  return at::where(at::isnan(x), x, out);
}
// (x, min, max)
at::Tensor ClipByValue(const Napi::CallbackInfo& info) {
  return at::clamp(TensorArg(info, 0), NumberArg(info, 1), NumberArg(info, 2));
}
// (tensors[]): the sum of all.
at::Tensor AddN(const Napi::CallbackInfo& info) {
  std::vector<at::Tensor> ts = TensorsArg(info, 0);
  TORCH_CHECK(!ts.empty(), "AddN of no tensors");
  at::Tensor out = ts[0].clone();
  for (size_t i = 1; i < ts.size(); i++) out.add_(ts[i]);
  return out;
}
// (condition, a, b), broadcast numpy-style (tf.where broadcasts the condition before the kernel).
at::Tensor Select(const Napi::CallbackInfo& info) {
  return at::where(TensorArg(info, 0).to(at::kBool), TensorArg(info, 1), TensorArg(info, 2));
}
// (x, dtypeCode)
at::Tensor Cast(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  at::ScalarType to = ScalarTypeOf(static_cast<DType>(IntArg(info, 1)));
  if (to == at::kBool) return x.ne(0);
  // tfjs truncates towards zero when casting floats to int32, as a C cast does.
  return x.to(to);
}

// ---- reductions ---------------------------------------------------------------------------------------------------

// (name, x, axes, keepDims)
at::Tensor Reduce(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0);
  const at::Tensor& x = TensorArg(info, 1);
  std::vector<int64_t> axes = IntsArg(info, 2);
  bool keep = BoolArg(info, 3);
  if (axes.empty()) return x.clone();
  if (name == "Sum") return x.scalar_type() == at::kBool ? at::sum(x, axes, keep, at::kInt) : at::sum(x, axes, keep);
  if (name == "Mean") return at::mean(x.scalar_type() == at::kFloat ? x : x.to(at::kFloat), axes, keep);
  if (name == "Max") return at::amax(x, axes, keep);
  if (name == "Min") return at::amin(x, axes, keep);
  if (name == "All" || name == "Any" || name == "Prod") {
    // These reduce one axis at a time in ATen; reduce the highest axis first so the others keep their numbers.
    std::vector<int64_t> sorted = axes;
    std::sort(sorted.rbegin(), sorted.rend());
    at::Tensor out = x;
    for (int64_t a : sorted) {
      if (name == "All") out = at::all(out, a, keep);
      else if (name == "Any") out = at::any(out, a, keep);
      else out = at::prod(out, a, keep);
    }
    return out;
  }
  TORCH_CHECK(false, "no reduction ", name);
}
// (x, axis, isMax)
at::Tensor ArgMinMax(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  int64_t axis = IntArg(info, 1);
  return BoolArg(info, 2) ? at::argmax(x, axis) : at::argmin(x, axis);
}
// (x, dim)
at::Tensor Softmax(const Napi::CallbackInfo& info) { return at::softmax(TensorArg(info, 0), IntArg(info, 1)); }
at::Tensor LogSoftmax(const Napi::CallbackInfo& info) { return at::log_softmax(TensorArg(info, 0), IntArg(info, 1)); }
// (x, axis, exclusive, reverse)
at::Tensor Cumsum(const Napi::CallbackInfo& info) {
  at::Tensor x = TensorArg(info, 0);
  int64_t axis = IntArg(info, 1);
  bool exclusive = BoolArg(info, 2), reverse = BoolArg(info, 3);
  if (reverse) x = x.flip(axis);
  at::Tensor out = at::cumsum(x, axis);
  if (exclusive) out = out - x;
  if (reverse) out = out.flip(axis);
  return out;
}

// ---- shapes and data movement -------------------------------------------------------------------------------------

// (x, shape): a view where the strides allow one, else a copy.
at::Tensor Reshape(const Napi::CallbackInfo& info) { return TensorArg(info, 0).reshape(IntsArg(info, 1)); }
// (x, perm): a view; later kernels read strided data, and reads make it contiguous.
at::Tensor Transpose(const Napi::CallbackInfo& info) { return TensorArg(info, 0).permute(IntsArg(info, 1)); }
// (x): the same data under a new handle (tensors are immutable, so sharing is safe).
at::Tensor Identity(const Napi::CallbackInfo& info) { return TensorArg(info, 0); }
// (x, begin, size): a copy, so that a small slice does not keep a large tensor alive.
at::Tensor Slice(const Napi::CallbackInfo& info) {
  at::Tensor x = TensorArg(info, 0);
  std::vector<int64_t> begin = IntsArg(info, 1), size = IntsArg(info, 2);
  for (size_t d = 0; d < begin.size(); d++) x = x.narrow(d, begin[d], size[d]);
  return x.clone(at::MemoryFormat::Contiguous);
}
// (x, begin, end, strides), normalised by tfjs's slice_util (positive strides only here).
at::Tensor StridedSlice(const Napi::CallbackInfo& info) {
  at::Tensor x = TensorArg(info, 0);
  std::vector<int64_t> begin = IntsArg(info, 1), end = IntsArg(info, 2), strides = IntsArg(info, 3);
  for (size_t d = 0; d < begin.size(); d++) {
    if (strides[d] > 0) {
      x = x.slice(d, begin[d], std::max(begin[d], end[d]), strides[d]);
    } else {
      // Walk backwards: flip, then slice forwards from the mirrored positions.
      int64_t n = x.size(d);
      int64_t b = n - 1 - begin[d], e = n - 1 - end[d];
      x = x.flip(d).slice(d, b, std::max(b, e), -strides[d]);
    }
  }
  return x.clone(at::MemoryFormat::Contiguous);
}
// (tensors, axis)
at::Tensor Concat(const Napi::CallbackInfo& info) { return at::cat(TensorsArg(info, 0), IntArg(info, 1)); }
// (tensors, axis)
at::Tensor Pack(const Napi::CallbackInfo& info) { return at::stack(TensorsArg(info, 0), IntArg(info, 1)); }
// (x, paddings flattened [before0, after0, before1, ...], value)
at::Tensor Pad(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  std::vector<int64_t> p = IntsArg(info, 1);
  // ATen lists pads from the last dimension backwards.
  std::vector<int64_t> pads;
  for (int64_t d = static_cast<int64_t>(p.size() / 2) - 1; d >= 0; d--) {
    pads.push_back(p[2 * d]);
    pads.push_back(p[2 * d + 1]);
  }
  return at::constant_pad_nd(x, pads, NumberArg(info, 2));
}
// (x, shape): a stride-0 view of x broadcast to shape (Tile over size-1 dimensions, i.e. tf.broadcastTo).
at::Tensor Expand(const Napi::CallbackInfo& info) { return TensorArg(info, 0).expand(IntsArg(info, 1)); }
// (x, reps)
at::Tensor Tile(const Napi::CallbackInfo& info) { return TensorArg(info, 0).repeat(IntsArg(info, 1)); }
// (x, dims)
at::Tensor Reverse(const Napi::CallbackInfo& info) { return at::flip(TensorArg(info, 0), IntsArg(info, 1)); }
// (x, indices, axis, batchDims)
at::Tensor Gather(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  const at::Tensor& idx = TensorArg(info, 1);
  int64_t axis = IntArg(info, 2), batch = IntArg(info, 3);
  at::Tensor flat = idx.reshape({-1}).to(at::kLong);
  if (batch == 0) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
    for (int64_t s : idx.sizes()) shape.push_back(s);
    for (int64_t d = axis + 1; d < x.dim(); d++) shape.push_back(x.size(d));
    return at::index_select(x, axis, flat).reshape(shape);
  }
  // Batched: indices [b..., k...] select along `axis` of x [b..., ..., axis, ...] within each batch.
  TORCH_CHECK(batch == 1 && axis == 1 && idx.dim() == 2, "GatherV2 with batchDims ", batch, " and axis ", axis,
              " is not supported");
  at::Tensor ix = idx.to(at::kLong);
  std::vector<int64_t> view = {ix.size(0), ix.size(1)};
  for (int64_t d = 2; d < x.dim(); d++) view.push_back(1);
  std::vector<int64_t> expand = {ix.size(0), ix.size(1)};
  for (int64_t d = 2; d < x.dim(); d++) expand.push_back(x.size(d));
  return at::gather(x, 1, ix.reshape(view).expand(expand));
}
// (x, segmentIds, numSegments)
at::Tensor UnsortedSegmentSum(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  const at::Tensor& ids = TensorArg(info, 1);
  int64_t n = IntArg(info, 2);
  std::vector<int64_t> rest(x.sizes().begin() + ids.dim(), x.sizes().end());
  std::vector<int64_t> outShape = {n};
  outShape.insert(outShape.end(), rest.begin(), rest.end());
  at::Tensor flatIds = ids.reshape({-1}).to(at::kLong);
  std::vector<int64_t> rows = {flatIds.size(0)};
  rows.insert(rows.end(), rest.begin(), rest.end());
  at::Tensor out = at::zeros(outShape, x.options());
  // tfjs drops negative (out-of-range) ids; keep the in-range rows.
  at::Tensor valid = flatIds.ge(0).logical_and(flatIds.lt(n));
  at::Tensor src = x.reshape(rows);
  if (!valid.all().item<bool>()) {
    src = src.index({valid});
    flatIds = flatIds.index({valid});
  }
  return out.index_add_(0, flatIds, src);
}
// (shape, value, dtypeCode)
at::Tensor Fill(const Napi::CallbackInfo& info) {
  return at::full(IntsArg(info, 0), NumberArg(info, 1), OptionsFor(static_cast<DType>(IntArg(info, 2))));
}
// (start, stop, step, dtypeCode)
at::Tensor Range(const Napi::CallbackInfo& info) {
  at::Tensor r = at::arange(NumberArg(info, 0), NumberArg(info, 1), NumberArg(info, 2),
                            at::TensorOptions().dtype(at::kDouble).device(CurrentDevice()));
  return r.to(ScalarTypeOf(static_cast<DType>(IntArg(info, 3))));
}
// (indices, depth, onValue, offValue, dtypeCode): out-of-range indices give a row of offValue, as in tfjs.
at::Tensor OneHot(const Napi::CallbackInfo& info) {
  const at::Tensor& idx = TensorArg(info, 0);
  int64_t depth = IntArg(info, 1);
  double on = NumberArg(info, 2), off = NumberArg(info, 3);
  at::ScalarType dtype = ScalarTypeOf(static_cast<DType>(IntArg(info, 4)));
  at::Tensor classes = at::arange(depth, at::TensorOptions().dtype(at::kLong).device(idx.device()));
  at::Tensor hit = idx.to(at::kLong).unsqueeze(-1).eq(classes);
  at::Tensor out = at::where(hit, at::full({}, on, at::TensorOptions().dtype(at::kDouble).device(idx.device())),
                             at::full({}, off, at::TensorOptions().dtype(at::kDouble).device(idx.device())));
  return out.to(dtype);
}

// ---- linear algebra -----------------------------------------------------------------------------------------------

// (a, b, transposeA, transposeB): batched, with broadcasting of the batch dimensions.
at::Tensor BatchMatMul(const Napi::CallbackInfo& info) {
  at::Tensor a = TensorArg(info, 0), b = TensorArg(info, 1);
  if (BoolArg(info, 2)) a = a.transpose(-1, -2);
  if (BoolArg(info, 3)) b = b.transpose(-1, -2);
  return at::matmul(a, b);
}

// ---- convolution and pooling --------------------------------------------------------------------------------------
// Padding arrives as [top, bottom, left, right]; ATen pads symmetrically, so unequal pads are applied to the input
// first (and cropped off input gradients).

struct Conv2dArgs {
  std::vector<int64_t> stride, pads, dilation;
  bool Symmetric() const { return pads[0] == pads[1] && pads[2] == pads[3]; }
  std::vector<int64_t> AtenPadding() const { return Symmetric() ? std::vector<int64_t>{pads[0], pads[2]} : std::vector<int64_t>{0, 0}; }
};

Conv2dArgs ConvArgs(const Napi::CallbackInfo& info, size_t first) {
  return {IntsArg(info, first), IntsArg(info, first + 1), IntsArg(info, first + 2)};
}

// NHWC -> an NCHW view (channels-last strides), padded when the padding is asymmetric.
at::Tensor InputNCHW(const at::Tensor& x, const Conv2dArgs& a) {
  at::Tensor v = x.permute({0, 3, 1, 2});
  if (!a.Symmetric()) v = at::constant_pad_nd(v, {a.pads[2], a.pads[3], a.pads[0], a.pads[1]});
  return v;
}

// HWIO filter -> OIHW, or for a depthwise HWCM filter -> (C*M)1HW.
at::Tensor FilterOIHW(const at::Tensor& w, bool depthwise) {
  if (!depthwise) return w.permute({3, 2, 0, 1});
  return w.permute({2, 3, 0, 1}).reshape({w.size(2) * w.size(3), 1, w.size(0), w.size(1)});
}

at::Tensor ToNHWC(const at::Tensor& y) { return y.permute({0, 2, 3, 1}); }

// (x, w, stride, pads, dilation, depthwise)
at::Tensor Conv2D(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  const at::Tensor& w = TensorArg(info, 1);
  Conv2dArgs a = ConvArgs(info, 2);
  bool depthwise = BoolArg(info, 5);
  int64_t groups = depthwise ? x.size(3) : 1;
  at::Tensor y = at::convolution(InputNCHW(x, a), FilterOIHW(w, depthwise), c10::nullopt, a.stride, a.AtenPadding(),
                                 a.dilation, false, {0, 0}, groups);
  return ToNHWC(y);
}

// (dy, w, inputShape NHWC, stride, pads, dilation, depthwise)
at::Tensor Conv2DBackpropInput(const Napi::CallbackInfo& info) {
  const at::Tensor& dy = TensorArg(info, 0);
  const at::Tensor& w = TensorArg(info, 1);
  std::vector<int64_t> shape = IntsArg(info, 2);
  Conv2dArgs a = ConvArgs(info, 3);
  bool depthwise = BoolArg(info, 6);
  int64_t n = shape[0], h = shape[1], wd = shape[2], c = shape[3];
  int64_t ph = a.Symmetric() ? h : h + a.pads[0] + a.pads[1];
  int64_t pw = a.Symmetric() ? wd : wd + a.pads[2] + a.pads[3];
  // Only the input's shape and layout matter for its gradient: an uninitialised channels-last stand-in.
  at::Tensor input = at::empty({n, c, ph, pw}, dy.options().memory_format(at::MemoryFormat::ChannelsLast));
  auto grads = at::convolution_backward(dy.permute({0, 3, 1, 2}), input, FilterOIHW(w, depthwise), c10::nullopt,
                                        a.stride, a.AtenPadding(), a.dilation, false, {0, 0}, depthwise ? c : 1,
                                        {true, false, false});
  at::Tensor dx = std::get<0>(grads);
  if (!a.Symmetric()) dx = dx.narrow(2, a.pads[0], h).narrow(3, a.pads[2], wd);
  return ToNHWC(dx);
}

// (x, dy, filterShape HWIO / HWCM, stride, pads, dilation, depthwise)
at::Tensor Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorArg(info, 0);
  const at::Tensor& dy = TensorArg(info, 1);
  std::vector<int64_t> fs = IntsArg(info, 2);
  Conv2dArgs a = ConvArgs(info, 3);
  bool depthwise = BoolArg(info, 6);
  std::vector<int64_t> oihw = depthwise ? std::vector<int64_t>{fs[2] * fs[3], 1, fs[0], fs[1]}
                                        : std::vector<int64_t>{fs[3], fs[2], fs[0], fs[1]};
  at::Tensor weight = at::empty(oihw, dy.options());
  auto grads = at::convolution_backward(dy.permute({0, 3, 1, 2}), InputNCHW(x, a), weight, c10::nullopt, a.stride,
                                        a.AtenPadding(), a.dilation, false, {0, 0}, depthwise ? x.size(3) : 1,
                                        {false, true, false});
  at::Tensor dw = std::get<1>(grads);
  if (!depthwise) return dw.permute({2, 3, 1, 0});
  return dw.reshape({fs[2], fs[3], fs[0], fs[1]}).permute({2, 3, 0, 1});
}

struct PoolArgs {
  std::vector<int64_t> kernel, stride, pads;  // pads: top, bottom, left, right
  bool Symmetric() const { return pads[0] == pads[1] && pads[2] == pads[3]; }
  std::vector<int64_t> AtenPadding() const { return Symmetric() ? std::vector<int64_t>{pads[0], pads[2]} : std::vector<int64_t>{0, 0}; }
  // ATen's pooling pads symmetrically; unequal pads ('same' with an odd remainder) are applied to the input first.
  at::Tensor PadInput(const at::Tensor& nchw, double value) const {
    return Symmetric() ? nchw : at::constant_pad_nd(nchw, {pads[2], pads[3], pads[0], pads[1]}, value);
  }
  at::Tensor Crop(const at::Tensor& padded, int64_t h, int64_t w) const {
    return Symmetric() ? padded : padded.narrow(2, pads[0], h).narrow(3, pads[2], w);
  }
};

PoolArgs PoolArgsAt(const Napi::CallbackInfo& info, size_t first) {
  return PoolArgs{IntsArg(info, first), IntsArg(info, first + 1), IntsArg(info, first + 2)};
}

at::Tensor NCHW(const at::Tensor& nhwc) { return nhwc.permute({0, 3, 1, 2}); }

// How many input pixels (padding excluded) each output window of an average pool covers, as [1, 1, OH, OW].
at::Tensor WindowCounts(const PoolArgs& p, int64_t h, int64_t w, const at::TensorOptions& options) {
  at::Tensor ones = p.PadInput(at::ones({1, 1, h, w}, options), 0);
  double area = static_cast<double>(p.kernel[0] * p.kernel[1]);
  return at::avg_pool2d(ones, p.kernel, p.stride, p.AtenPadding(), false, true) * area;
}

// (x, kernel, stride, pads): tfjs leaves padding out of the average (count_include_pad false).
at::Tensor AvgPool(const Napi::CallbackInfo& info) {
  PoolArgs p = PoolArgsAt(info, 1);
  at::Tensor x = NCHW(TensorArg(info, 0));
  if (p.Symmetric()) return ToNHWC(at::avg_pool2d(x, p.kernel, p.stride, p.AtenPadding(), false, false));
  double area = static_cast<double>(p.kernel[0] * p.kernel[1]);
  at::Tensor sums = at::avg_pool2d(p.PadInput(x, 0), p.kernel, p.stride, {0, 0}, false, true) * area;
  return ToNHWC(sums / WindowCounts(p, x.size(2), x.size(3), x.options()));
}
// (dy, x, kernel, stride, pads)
at::Tensor AvgPoolGrad(const Napi::CallbackInfo& info) {
  PoolArgs p = PoolArgsAt(info, 2);
  const at::Tensor& dyNHWC = TensorArg(info, 0);
  const at::Tensor& xNHWC = TensorArg(info, 1);
  // The ConvNet's 2x2 stride-2 pool on even sizes: each dy value spread over its window is a broadcast, written in
  // one pass (ATen's channels-last backward kernel took as long as the convolutions' own gradients here).
  bool tiles = p.kernel[0] == 2 && p.kernel[1] == 2 && p.stride[0] == 2 && p.stride[1] == 2 && p.pads[0] == 0 &&
               p.pads[1] == 0 && p.pads[2] == 0 && p.pads[3] == 0 && xNHWC.size(1) % 2 == 0 && xNHWC.size(2) % 2 == 0;
  if (tiles) {
    int64_t n = dyNHWC.size(0), oh = dyNHWC.size(1), ow = dyNHWC.size(2), c = dyNHWC.size(3);
    return dyNHWC.mul(0.25).reshape({n, oh, 1, ow, 1, c}).expand({n, oh, 2, ow, 2, c}).reshape({n, 2 * oh, 2 * ow, c});
  }
  at::Tensor dy = NCHW(dyNHWC);
  at::Tensor x = NCHW(xNHWC);
  if (p.Symmetric()) {
    return ToNHWC(at::avg_pool2d_backward(dy, x, p.kernel, p.stride, p.AtenPadding(), false, false, c10::nullopt));
  }
  // The forward divides each window's sum by its count of real pixels: spread dy / count over the window.
  double area = static_cast<double>(p.kernel[0] * p.kernel[1]);
  at::Tensor scaled = dy * area / WindowCounts(p, x.size(2), x.size(3), x.options());
  at::Tensor padded = p.PadInput(x, 0);
  at::Tensor dx = at::avg_pool2d_backward(scaled, padded, p.kernel, p.stride, {0, 0}, false, true, c10::nullopt);
  return ToNHWC(p.Crop(dx, x.size(2), x.size(3)));
}
// (x, kernel, stride, pads): padding never wins a maximum.
at::Tensor MaxPool(const Napi::CallbackInfo& info) {
  PoolArgs p = PoolArgsAt(info, 1);
  at::Tensor x = p.PadInput(NCHW(TensorArg(info, 0)), -std::numeric_limits<double>::infinity());
  return ToNHWC(at::max_pool2d(x, p.kernel, p.stride, p.AtenPadding()));
}
// (dy, x, kernel, stride, pads): the positions of the maxima are found again from x.
at::Tensor MaxPoolGrad(const Napi::CallbackInfo& info) {
  PoolArgs p = PoolArgsAt(info, 2);
  at::Tensor x = NCHW(TensorArg(info, 1));
  at::Tensor padded = p.PadInput(x, -std::numeric_limits<double>::infinity());
  auto pooled = at::max_pool2d_with_indices(padded, p.kernel, p.stride, p.AtenPadding(), {1, 1}, false);
  at::Tensor dx = at::max_pool2d_with_indices_backward(NCHW(TensorArg(info, 0)), padded, p.kernel, p.stride,
                                                       p.AtenPadding(), {1, 1}, false, std::get<1>(pooled));
  return ToNHWC(p.Crop(dx, x.size(2), x.size(3)));
}

// ---- multi-output -------------------------------------------------------------------------------------------------

Napi::Value WrapAll(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) out.Set(static_cast<uint32_t>(i), Wrap(env, ts[i].clone(at::MemoryFormat::Contiguous)));
  return out;
}

// (x, sizes, axis)
Napi::Value SplitV(const Napi::CallbackInfo& info) {
  return WrapAll(info.Env(), at::split_with_sizes(TensorArg(info, 0), IntsArg(info, 1), IntArg(info, 2)));
}
// (x, axis)
Napi::Value Unpack(const Napi::CallbackInfo& info) { return WrapAll(info.Env(), at::unbind(TensorArg(info, 0), IntArg(info, 1))); }
// (x, k, sorted) -> [values, indices]
Napi::Value TopK(const Napi::CallbackInfo& info) {
  auto r = at::topk(TensorArg(info, 0), IntArg(info, 1), -1, true, BoolArg(info, 2));
  return WrapAll(info.Env(), {std::get<0>(r), std::get<1>(r)});
}

// ---- fused normalisation ----------------------------------------------------------------------------------------

// (x, gamma, beta, eps)
at::Tensor InstanceNorm(const Napi::CallbackInfo& info) {
  return InstanceNormForward(TensorArg(info, 0), TensorArg(info, 1), TensorArg(info, 2), NumberArg(info, 3));
}
// (dy, x, gamma, eps) -> [dx, dgamma, dbeta]
Napi::Value InstanceNormGrad(const Napi::CallbackInfo& info) {
  std::vector<at::Tensor> out = InstanceNormBackward(TensorArg(info, 0), TensorArg(info, 1), TensorArg(info, 2), NumberArg(info, 3));
  Napi::Array arr = Napi::Array::New(info.Env(), out.size());
  for (size_t i = 0; i < out.size(); i++) arr.Set(static_cast<uint32_t>(i), Wrap(info.Env(), out[i]));
  return arr;
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& out) {
  Napi::Array arr = Napi::Array::New(env, out.size());
  for (size_t i = 0; i < out.size(); i++) arr.Set(static_cast<uint32_t>(i), Wrap(env, out[i]));
  return arr;
}
// (x, gamma, beta, eps) -> [y, mean, var]
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  return WrapList(info.Env(), BatchNormForward(TensorArg(info, 0), TensorArg(info, 1), TensorArg(info, 2), NumberArg(info, 3)));
}
// (dy, x, gamma, eps) -> [dx, dgamma, dbeta]
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info) {
  return WrapList(info.Env(), BatchNormBackward(TensorArg(info, 0), TensorArg(info, 1), TensorArg(info, 2), NumberArg(info, 3)));
}

// ---- error reporting ----------------------------------------------------------------------------------------------

// "[2,3] float32" for each tensor argument, so an error names what the kernel was given.
std::string DescribeArgs(const Napi::CallbackInfo& info) {
  std::ostringstream s;
  bool first = true;
  for (size_t i = 0; i < info.Length(); i++) {
    Napi::Value v = info[i];
    if (!v.IsExternal()) continue;
    const at::Tensor& t = v.As<Napi::External<TensorBox>>().Data()->tensor;
    if (!first) s << ", ";
    first = false;
    if (!t.defined()) {
      s << "(released)";
      continue;
    }
    s << "[";
    for (int64_t d = 0; d < t.dim(); d++) s << (d ? "," : "") << t.size(d);
    s << "] " << c10::toString(t.scalar_type());
  }
  return s.str();
}

[[noreturn]] void Rethrow(const Napi::CallbackInfo& info, const char* name, const std::string& what) {
  std::string kernel = name;
  if ((kernel == "unary" || kernel == "binary" || kernel == "reduce") && info.Length() > 0 && info[0].IsString()) {
    kernel = info[0].As<Napi::String>().Utf8Value();
  }
  std::ostringstream m;
  m << "libtorch " << kernel << " failed on " << CurrentDevice() << " (inputs: " << DescribeArgs(info) << "): " << what;
  throw Napi::Error::New(info.Env(), m.str());
}

template <Fn F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  try {
    return Wrap(info.Env(), F(info));
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    Rethrow(info, name, e.what_without_backtrace());
  } catch (const std::exception& e) {
    Rethrow(info, name, e.what());
  }
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value GuardedMulti(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    Rethrow(info, name, e.what_without_backtrace());
  } catch (const std::exception& e) {
    Rethrow(info, name, e.what());
  }
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
#define OP(js, fn) exports.Set(js, Napi::Function::New(env, Guarded<fn>, js, const_cast<char*>(js)))
#define MULTI(js, fn) exports.Set(js, Napi::Function::New(env, GuardedMulti<fn>, js, const_cast<char*>(js)))
  OP("unary", UnaryOp);
  OP("binary", BinaryOp);
  OP("leakyRelu", LeakyRelu);
  OP("step", Step);
  OP("clipByValue", ClipByValue);
  OP("addN", AddN);
  OP("select", Select);
  OP("cast", Cast);
  OP("reduce", Reduce);
  OP("argMinMax", ArgMinMax);
  OP("softmax", Softmax);
  OP("logSoftmax", LogSoftmax);
  OP("cumsum", Cumsum);
  OP("reshape", Reshape);
  OP("transpose", Transpose);
  OP("identity", Identity);
  OP("slice", Slice);
  OP("stridedSlice", StridedSlice);
  OP("concat", Concat);
  OP("pack", Pack);
  OP("pad", Pad);
  OP("tile", Tile);
  OP("expand", Expand);
  OP("reverse", Reverse);
  OP("gather", Gather);
  OP("unsortedSegmentSum", UnsortedSegmentSum);
  OP("fill", Fill);
  OP("range", Range);
  OP("oneHot", OneHot);
  OP("batchMatMul", BatchMatMul);
  OP("conv2d", Conv2D);
  OP("conv2dBackpropInput", Conv2DBackpropInput);
  OP("conv2dBackpropFilter", Conv2DBackpropFilter);
  OP("avgPool", AvgPool);
  OP("avgPoolGrad", AvgPoolGrad);
  OP("maxPool", MaxPool);
  OP("maxPoolGrad", MaxPoolGrad);
  MULTI("splitV", SplitV);
  MULTI("unpack", Unpack);
  MULTI("topK", TopK);
  OP("instanceNorm", InstanceNorm);
  MULTI("instanceNormGrad", InstanceNormGrad);
  MULTI("batchNormTrain", BatchNormTrain);
  MULTI("batchNormTrainGrad", BatchNormTrainGrad);
#undef OP
#undef MULTI
}

}  // namespace distillery
