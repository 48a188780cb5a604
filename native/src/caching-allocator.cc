#include "caching-allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cstdlib>

#include <map>
#include <mutex>
#include <unordered_map>

namespace distillery {
namespace {

// Blocks from this size up are mapped and cached here; smaller ones go to glibc, whose heap (with the trim and top-pad
// settings made at install) already reuses them.
constexpr size_t kLargeBlock = 256 * 1024;
// Large requests are rounded up to this granularity so that a freed block fits the next request of about its size.
constexpr size_t kGranule = 2 * 1024 * 1024;
// libtorch's CPU allocator aligns to 64 bytes (AVX-512 loads); mmap gives page alignment, glibc gets asked for 64.
constexpr size_t kAlignment = 64;

size_t RoundUp(size_t n) { return n < kLargeBlock ? n : (n + kGranule - 1) / kGranule * kGranule; }

class CachingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p = const_cast<CachingAllocator*>(this)->Allocate(n);
    return {p, p, &Free, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Free; }

  AllocatorStats Stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_in_use = stats_.in_use;
  }
  void Empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    ReleaseCachedLocked(0);
  }
  void SetLimit(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
    ReleaseCachedLocked(limit_);
  }

  static CachingAllocator& Instance() {
    // Never destroyed: tensors may be freed during process exit, after static destructors would have run.
    static CachingAllocator* instance = new CachingAllocator();
    return *instance;
  }

 private:
  static void Free(void* p) { Instance().Release(p); }

  void* Allocate(size_t n) {
    if (n == 0) n = 1;
    size_t size = RoundUp(n);
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    // The smallest cached block that fits, if it wastes at most a quarter of the request.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= size + size / 4) {
      p = it->second;
      size = it->first;
      free_.erase(it);
      stats_.cached -= size;
    } else {
      p = Obtain(size);
      if (p == nullptr) {
        // Out of memory: give back everything cached and try once more.
        ReleaseCachedLocked(0);
        p = Obtain(size);
      }
      TORCH_CHECK(p != nullptr, "out of memory: could not allocate ", n, " bytes on the CPU (", stats_.in_use,
                  " bytes in use by tensors)");
      if (size >= kLargeBlock) stats_.os_allocated += size;
    }
    live_[p] = size;
    stats_.in_use += size;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    return p;
  }

  void Release(void* p) {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: cannot happen, DataPtrs carry their own deleter
    size_t size = it->second;
    live_.erase(it);
    stats_.in_use -= size;
    if (size < kLargeBlock) {
      free(p);
      return;
    }
    free_.emplace(size, p);
    stats_.cached += size;
    if (stats_.cached > limit_) ReleaseCachedLocked(limit_);
  }

  // Returns cached blocks to the OS, largest first, until at most `keep` bytes stay cached.
  void ReleaseCachedLocked(uint64_t keep) {
    while (stats_.cached > keep && !free_.empty()) {
      auto it = std::prev(free_.end());
      munmap(it->second, it->first);
      stats_.cached -= it->first;
      free_.erase(it);
    }
  }

  static void* Obtain(size_t size) {
    if (size < kLargeBlock) {
      void* p = nullptr;
      return posix_memalign(&p, kAlignment, size) == 0 ? p : nullptr;
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    // Fewer, larger page faults on first touch where transparent huge pages are enabled.
    if (getenv("DISTILLERY_TORCH_HUGEPAGES") != nullptr) madvise(p, size, MADV_HUGEPAGE);
    return p;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  std::unordered_map<void*, size_t> live_;
  AllocatorStats stats_;
  uint64_t limit_ = UINT64_MAX;
};

}  // namespace

void InstallCachingAllocator() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  // For the small blocks left to glibc: never trim the heap's top, and grow it in large steps.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  c10::SetCPUAllocator(&CachingAllocator::Instance(), /*priority=*/100);
}

AllocatorStats CachingAllocatorStats() { return CachingAllocator::Instance().Stats(); }
void ResetPeak() { CachingAllocator::Instance().ResetPeak(); }
void EmptyCache() { CachingAllocator::Instance().Empty(); }
void SetCacheLimit(uint64_t bytes) { CachingAllocator::Instance().SetLimit(bytes); }

}  // namespace distillery
