// The kernels: each takes tensor handles and plain numbers from the JS kernel functions (ml/libtorch/) and returns a
// new handle. Layouts are tfjs's (NHWC activations, HWIO filters); convolutions and pooling view them as channels-last
// NCHW tensors, so no data is copied to change layout.
#pragma once

#include <napi.h>

namespace distillery {

/** Adds every kernel to `exports`, each wrapped so that a libtorch error becomes a JS Error naming it. */
void RegisterOps(Napi::Env env, Napi::Object exports);

}  // namespace distillery
