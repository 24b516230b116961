// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as gRPC and iSCSI use it: a check on
// each downloaded chunk, cheaper than waiting for the whole file's sha256.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quench {

// Extends `crc` (0 for a fresh checksum) over `size` bytes.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);
// The same, a byte at a time without the CPU's CRC instruction: what tests check it against.
uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc = 0);

}  // namespace quench
