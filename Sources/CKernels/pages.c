#define _GNU_SOURCE
#include "ckernels.h"

#include <sys/mman.h>

// Plain 4 KB pages: transparent huge pages were tried and made first touch slower on the
// development VM (page zeroing rose from 9% to 17% of an nnU-Net tile benchmark's time).

float *ck_pages_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : (float *)p;
}

float *ck_pages_grow(float *pages, size_t old_bytes, size_t new_bytes) {
#if defined(__linux__)
    void *p = mremap(pages, old_bytes, new_bytes, MREMAP_MAYMOVE);
    return p == MAP_FAILED ? NULL : (float *)p;
#else
    // No mremap: a fresh mapping (the contents need not survive).
    munmap(pages, old_bytes);
    return ck_pages_map(new_bytes);
#endif
}

void ck_pages_discard(float *pages, size_t bytes) { madvise(pages, bytes, MADV_DONTNEED); }

void ck_pages_unmap(float *pages, size_t bytes) { munmap(pages, bytes); }
