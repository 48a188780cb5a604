{
  # The libtorch paths and flags come from torch-paths.gypi, written by scripts/build-native.mjs from the libtorch it
  # found (DISTILLERY_LIBTORCH, Debian's libtorch-dev, or a pip torch's include/ and lib/ folders).
  "includes": ["build-config/torch-paths.gypi"],
  "targets": [
    {
      "target_name": "distillery_torch",
      "sources": ["src/addon.cc", "src/ops.cc", "src/tensor-handle.cc", "src/caching-allocator.cc", "src/norm.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<@(torch_include_dirs)"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "<@(torch_defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["<@(torch_libraries)"],
      "ldflags": ["<@(torch_ldflags)"]
    }
  ]
}
