#ifndef CKSHA256_H
#define CKSHA256_H
#include <stddef.h>
#include <stdint.h>

/// The 64 round constants K of FIPS 180-4, shared by both block functions.
const uint32_t *ck_sha256_round_constants(void);

/// 1 when this CPU has the SHA extensions (SHA-NI) that `ck_sha256_blocks` uses.
int ck_sha256_accelerated(void);

/// Compresses `blocks` 64-byte blocks of `data` into the eight-word SHA-256 `state` with the SHA
/// instructions. Call only when `ck_sha256_accelerated()` is 1.
void ck_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
