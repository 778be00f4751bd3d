#define _GNU_SOURCE
#include "ckernels.h"

#include <sys/mman.h>

/// Mappings of at least this size ask for transparent huge pages: one fault per 2 MB instead of
/// one per 4 KB.
enum { HUGE_PAGE_MINIMUM = 4 << 20 };

static void advise_huge(void *p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
    if (bytes >= HUGE_PAGE_MINIMUM) madvise(p, bytes, MADV_HUGEPAGE);
#endif
}

float *ck_pages_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    advise_huge(p, bytes);
    return (float *)p;
}

float *ck_pages_grow(float *pages, size_t old_bytes, size_t new_bytes) {
#if defined(__linux__)
    void *p = mremap(pages, old_bytes, new_bytes, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return NULL;
    advise_huge(p, new_bytes);
    return (float *)p;
#else
    // No mremap: a fresh mapping (the contents need not survive).
    munmap(pages, old_bytes);
    return ck_pages_map(new_bytes);
#endif
}

void ck_pages_discard(float *pages, size_t bytes) { madvise(pages, bytes, MADV_DONTNEED); }

void ck_pages_unmap(float *pages, size_t bytes) { munmap(pages, bytes); }
