// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/util/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace consentry::internal {
namespace {

struct Vector {
  std::string data;
  std::uint32_t crc;
};

// RFC 3720 (iSCSI) appendix B.4 and the common check value.
std::vector<Vector> Vectors() {
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
    descending[static_cast<std::size_t>(i)] = static_cast<char>(31 - i);
  }
  return {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xFF'), 0x62A8AB43u},
      {ascending, 0x46DD794Eu},
      {descending, 0x113FDB5Cu},
  };
}

TEST(Crc32cTest, PortableMatchesKnownVectors) {
  for (const Vector& v : Vectors()) {
    EXPECT_EQ(Crc32cExtendPortable(0, v.data.data(), v.data.size()), v.crc)
        << "length " << v.data.size();
  }
}

TEST(Crc32cTest, HardwareMatchesKnownVectors) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2";
  for (const Vector& v : Vectors()) {
    EXPECT_EQ(Crc32cExtendHardware(0, v.data.data(), v.data.size()), v.crc)
        << "length " << v.data.size();
  }
}

TEST(Crc32cTest, ExtendEqualsWholeAtEverySplit) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const std::uint32_t whole = Crc32c(data.data(), data.size());
  for (std::size_t k = 0; k <= data.size(); ++k) {
    EXPECT_EQ(
        Crc32cExtend(Crc32c(data.data(), k), data.data() + k, data.size() - k),
        whole);
    EXPECT_EQ(Crc32cExtendPortable(Crc32cExtendPortable(0, data.data(), k),
                                   data.data() + k, data.size() - k),
              whole);
  }
}

TEST(Crc32cTest, DetectsSingleBitFlip) {
  std::string data = "subject s-1 read for billing.calculation";
  const std::uint32_t before = Crc32c(data.data(), data.size());
  data[7] = static_cast<char>(data[7] ^ 0x04);
  EXPECT_NE(Crc32c(data.data(), data.size()), before);
}

}  // namespace
}  // namespace consentry::internal
