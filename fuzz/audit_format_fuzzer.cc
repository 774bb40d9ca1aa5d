// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The audit log's decoders on arbitrary bytes: segment header, frames (event
// and seal), events, seal payloads and index files (both versions).
// Properties: decoding
// never crashes or reads out of bounds; whatever decodes re-encodes to the
// same bytes (header, seal, a sorted index) or to an encoding that decodes
// to the same value and re-encodes identically (events); the fields the
// writer indexes agree with the full decode; a frame's view stays inside
// the input.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "src/audit/audit_format.h"

namespace {

using namespace consentry;            // NOLINT
using namespace consentry::internal;  // NOLINT

// The encoding of `e` with its sequence, as the writer makes it.
std::string Encode(const OwnedAuditEvent& o) {
  const AuditEvent e = AuditEvent::From(o);
  std::string out(EncodedEventSizeBound(e) + kMaxSequenceFieldSize, '\0');
  char* end = EncodeEvent(e, out.data());
  CONSENTRY_FUZZ_CHECK(
      static_cast<std::size_t>(end - out.data()) == EncodedEventSize(e),
      "EncodedEventSize disagrees with EncodeEvent");
  end = EncodeSequenceField(o.sequence, end);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return out;
}

void CheckEvent(absl::string_view payload) {
  OwnedAuditEvent e;
  EventKeys keys;
  const bool scanned = ScanEventKeys(payload, &keys);
  if (!DecodeEvent(payload, &e)) return;
  if (scanned) {
    CONSENTRY_FUZZ_CHECK(keys.subject == e.subject, "indexed subject differs");
    CONSENTRY_FUZZ_CHECK(keys.accessor == e.accessor,
                         "indexed accessor differs");
    CONSENTRY_FUZZ_CHECK(keys.time_unix_nanos == e.time_unix_nanos,
                         "indexed time differs");
    CONSENTRY_FUZZ_CHECK(keys.sequence == e.sequence, "sequence differs");
  }
  const std::string once = Encode(e);
  OwnedAuditEvent again;
  CONSENTRY_FUZZ_CHECK(DecodeEvent(once, &again), "re-encoding does not parse");
  CONSENTRY_FUZZ_CHECK(Encode(again) == once, "re-encoding is not stable");
  EventKeys k2;
  CONSENTRY_FUZZ_CHECK(ScanEventKeys(once, &k2) && k2.subject == e.subject &&
                           k2.sequence == e.sequence,
                       "the writer's encoding does not scan");
}

void CheckFrames(absl::string_view data, std::uint64_t offset) {
  FrameView f;
  for (int n = 0; n < 64; ++n) {
    const std::uint64_t at = offset;
    const FrameStatus st = ReadFrame(data, &offset, &f);
    if (st != FrameStatus::kOk) {
      CONSENTRY_FUZZ_CHECK(offset == at, "a failed read advanced");
      return;
    }
    CONSENTRY_FUZZ_CHECK(offset > at && offset <= data.size(),
                         "a frame ends outside the input");
    CONSENTRY_FUZZ_CHECK(f.payload.data() >= data.data() &&
                             f.payload.data() + f.payload.size() + 32 <=
                                 data.data() + data.size(),
                         "a frame's view leaves the input");
    if (!f.crc_ok) continue;
    if (f.seal) {
      SealRecord seal;
      CONSENTRY_FUZZ_CHECK(f.payload.size() == kSealPayloadSize,
                           "a seal of the wrong size");
      if (DecodeSealPayload(f.payload, &seal)) {
        CONSENTRY_FUZZ_CHECK(EncodeSealPayload(seal) == f.payload,
                             "a seal does not re-encode");
      }
    } else {
      CheckEvent(f.payload);
    }
  }
}

// For the keys of a decoded version 2 index `index` (sorted) with header
// `h`: the blocks `IndexBlocksForKey` names hold every one of its entries.
void CheckBlocksForKeys(absl::string_view data, const IndexHeader& h,
                        const SegmentIndex& index) {
  std::vector<IndexBlockRef> table;
  CONSENTRY_FUZZ_CHECK(
      DecodeIndexTable(
          data.substr(kIndexHeaderSize, static_cast<std::size_t>(h.TableEnd()) -
                                            kIndexHeaderSize),
          h, &table),
      "a decoded index's table does not decode");
  std::size_t checked = 0;
  for (std::size_t i = 0; i < index.entries.size() && checked < 64; ++i) {
    if (i > 0 && index.entries[i].first == index.entries[i - 1].first) {
      continue;
    }
    ++checked;
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    IndexBlocksForKey(table, index.entries[i].first, &first, &last);
    for (std::size_t j = i; j < index.entries.size() &&
                            index.entries[j].first == index.entries[i].first;
         ++j) {
      const std::uint64_t b = j / h.block_entries;
      CONSENTRY_FUZZ_CHECK(b >= first && b < last,
                           "a key's entry lies outside the blocks named");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes,
                                      std::size_t size) {
  const absl::string_view data(reinterpret_cast<const char*>(bytes), size);

  // A segment: header, then frames.
  SegmentHeader h;
  if (DecodeSegmentHeader(data, &h) == HeaderProblem::kNone) {
    // Either version, key ids included, re-encodes to its own bytes.
    const std::string out = EncodeSegmentHeader(h);
    CONSENTRY_FUZZ_CHECK(out == data.substr(0, h.size),
                         "a segment header does not re-encode");
    CONSENTRY_FUZZ_CHECK(FirstFrameOffset(data) == h.size,
                         "a header's size differs from its first frame");
    CONSENTRY_FUZZ_CHECK(h.version == kFormatVersionV2 ||
                             h.hmac_key_id.empty() ||
                             ((h.flags & kFlagKeyed) != 0 &&
                              consentry::IsValidHmacKeyId(h.hmac_key_id)),
                         "a header with an invalid HMAC key id decodes");
    CheckFrames(data, h.size);
  }
  // Frames from the start, and a bare event payload.
  CheckFrames(data, 0);
  CheckEvent(data);

  // A seal payload.
  SealRecord seal;
  if (DecodeSealPayload(data, &seal)) {
    CONSENTRY_FUZZ_CHECK(EncodeSealPayload(seal) == data,
                         "a seal payload does not re-encode");
  }

  // An index file (either version): what decodes re-encodes in its version
  // (entries sorted, blocks of the writer's size) and decodes to the same
  // index; a blocked index's table names every block holding each key.
  SegmentIndex index;
  if (SegmentIndex::Decode(data, &index)) {
    const bool v1 = data.substr(0, 8) == absl::string_view(kIndexMagicV1, 8);
    IndexHeader ih;
    const bool v2 = DecodeIndexHeader(data, &ih);
    CONSENTRY_FUZZ_CHECK(v1 != v2, "an index decodes as both versions");
    const bool sorted =
        std::is_sorted(index.entries.begin(), index.entries.end());
    SegmentIndex copy = index;
    const std::string encoded = v1 ? copy.EncodeV1() : copy.Encode();
    if (sorted && (v1 || ih.block_entries == kIndexBlockEntries)) {
      CONSENTRY_FUZZ_CHECK(encoded == data, "an index does not re-encode");
    }
    SegmentIndex again;
    CONSENTRY_FUZZ_CHECK(SegmentIndex::Decode(encoded, &again),
                         "a re-encoded index does not decode");
    CONSENTRY_FUZZ_CHECK(again.segment_number == index.segment_number &&
                             again.records == index.records &&
                             again.file_size == index.file_size &&
                             again.entries == copy.entries,
                         "a re-encoded index decodes differently");
    Hash256 digest;
    std::uint32_t version = 0;
    CONSENTRY_FUZZ_CHECK(
        IndexSealDigest(data, &digest, &version) &&
            version == (v1 ? kSealVersionWholeIndex : kSealVersionIndexRoot),
        "a decoded index has no seal digest");
    if (v2 && sorted) CheckBlocksForKeys(data, ih, index);
  }
  return 0;
}
