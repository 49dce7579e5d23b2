// Floor 1: CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
//
// Standard parameters: reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final
// xor 0xFFFFFFFF; crc32c("123456789") == 0xE3069283. Hardware-accelerated. The order of
// preference was fixed by measurement (benchmarks/crc32c_bench, figures in README.md): ISA-L's
// crc32_iscsi for 256 bytes and up when samsa is built with libisal, a 3-lane SSE4.2+PCLMUL
// loop below that (or for everything without ISA-L), a table when the CPU has neither. At
// start-up only the CPU's features are checked.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "samsa/coding.h"

namespace samsa {

// CRC-32C of `data`.
std::uint32_t crc32c(ByteSpan data);

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a ++ b).
std::uint32_t crc32c_extend(std::uint32_t crc, ByteSpan data);

// Name of the implementation in use: "isa-l", "sse4.2" or "table".
std::string_view crc32c_implementation();

namespace internal {
// Each implementation, for tests and the benchmark to compare. An implementation not built
// on this machine falls back to the portable one.
std::uint32_t crc32c_extend_table(std::uint32_t crc, ByteSpan data);
std::uint32_t crc32c_extend_sse42(std::uint32_t crc, ByteSpan data);
std::uint32_t crc32c_extend_isal(std::uint32_t crc, ByteSpan data);
bool crc32c_sse42_available();
bool crc32c_isal_available();
}  // namespace internal

}  // namespace samsa
