// A CPU allocator for libtorch that keeps freed large blocks for reuse.
//
// Why: on the virtual machines this runs on, touching freshly mapped memory costs a page fault per 4 KiB, and glibc
// returns every block above its mmap threshold (at most 32 MiB) to the kernel on free. A training step allocates and
// frees the same large activation buffers every iteration, so without reuse a ConvNet step ran about 7x slower in
// PyTorch itself. PyTorch's CUDA side has a caching allocator; its CPU side does not, so this is written here.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>

namespace distillery {

/** Counters of the caching allocator, in bytes. */
struct AllocatorStats {
  uint64_t in_use = 0;       // handed out to tensors now
  uint64_t cached = 0;       // freed and kept for reuse
  uint64_t peak_in_use = 0;  // the most in_use ever was (since the last reset)
  uint64_t os_allocated = 0; // large blocks mapped from the OS so far (flat once the cache serves every request)
};

/** Installs the caching allocator as libtorch's CPU allocator (once; later calls do nothing). */
void InstallCachingAllocator();

/** Current counters. */
AllocatorStats CachingAllocatorStats();

/** Sets peak_in_use to in_use. */
void ResetPeak();

/** Returns every cached block to the OS. */
void EmptyCache();

/** Caps the bytes kept in the cache (blocks beyond it are returned to the OS on free). */
void SetCacheLimit(uint64_t bytes);

}  // namespace distillery
