// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/receipt.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "consentry/consent.h"
#include "consentry/proto_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

const std::string kKeys = SourcePath("tests/testdata/receipt_keys");
const std::string kPublic = SourcePath("tests/testdata/receipt_public");
const std::string kBad = SourcePath("tests/testdata/receipt_bad_keys");

std::unique_ptr<FileKeyProvider> Keys(std::vector<std::string> paths,
                                      std::string signing = "") {
  absl::StatusOr<std::unique_ptr<FileKeyProvider>> k = FileKeyProvider::Open(
      {.paths = std::move(paths), .signing_key_file = std::move(signing)});
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *std::move(k) : nullptr;
}

absl::StatusOr<std::unique_ptr<FileKeyProvider>> OpenKeys(
    std::vector<std::string> paths, std::string signing = "") {
  return FileKeyProvider::Open(
      {.paths = std::move(paths), .signing_key_file = std::move(signing)});
}

class ConsentReceiptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = DefaultPolicy();
    ASSERT_NE(policy_, nullptr);
    char tmpl[] = "/tmp/receipt_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& data) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }

  v1::ConsentRecord Record() {
    v1::ConsentRecord r;
    r.set_subject_id("member-7");
    r.set_revision(42);
    r.mutable_update_time()->set_seconds(1796000000);
    v1::PurposeConsent* pc = r.add_purposes();
    pc->set_purpose("marketing.research");
    pc->set_state(v1::CONSENT_STATE_GIVEN);
    pc->mutable_time()->set_seconds(1795999000);
    pc->mutable_time()->set_nanos(500000000);
    pc->set_policy_version("2026-11-01");
    pc->set_notice_version("notice-3");
    pc->set_method(v1::COLLECTION_METHOD_WEB_FORM);
    pc->set_evidence_ref("form-2231");
    v1::PurposeConsent* pc2 = r.add_purposes();
    pc2->set_purpose("billing.calculation");
    pc2->set_state(v1::CONSENT_STATE_WITHDRAWN);
    pc2->mutable_time()->set_seconds(1795000000);
    pc2->mutable_expiry()->set_seconds(1890000000);
    return r;
  }

  ReceiptOptions Options() {
    ReceiptOptions o;
    o.controller = {"Example Health K.K.", "privacy@example.jp"};
    return o;
  }

  std::string SignedJson(FileKeyProvider& keys) {
    absl::StatusOr<ConsentReceipt> r =
        BuildConsentReceipt(*policy_, Record(), Options());
    EXPECT_OK(r.status());
    if (!r.ok()) return "";
    EXPECT_OK(SignReceipt(keys, *r));
    return SerializeReceipt(*r);
  }

  std::shared_ptr<const CompiledPolicy> policy_;
  std::string dir_;
};

TEST_F(ConsentReceiptTest, BuildsTheConsentRecordFields) {
  absl::StatusOr<ConsentReceipt> r =
      BuildConsentReceipt(*policy_, Record(), Options());
  ASSERT_OK(r.status());
  EXPECT_EQ(r->controller.name, "Example Health K.K.");
  EXPECT_EQ(r->subject_id, "member-7");
  EXPECT_EQ(r->revision, 42);
  EXPECT_EQ(r->catalogue_version, policy_->version());
  EXPECT_EQ(r->time, absl::FromUnixSeconds(1796000000));
  ASSERT_EQ(r->purposes.size(), 2u);
  // Ordered by purpose id.
  const ReceiptPurpose& billing = r->purposes[0];
  const ReceiptPurpose& research = r->purposes[1];
  EXPECT_EQ(billing.purpose, "billing.calculation");
  EXPECT_EQ(billing.state, "withdrawn");
  EXPECT_EQ(billing.method, "unspecified");
  EXPECT_EQ(billing.expiry, absl::FromUnixSeconds(1890000000));
  EXPECT_EQ(research.purpose, "marketing.research");
  EXPECT_EQ(research.state, "given");
  EXPECT_EQ(research.method, "web_form");
  EXPECT_EQ(research.policy_version, "2026-11-01");
  EXPECT_EQ(research.notice_version, "notice-3");
  EXPECT_EQ(research.evidence, "form-2231");
  EXPECT_EQ(research.expiry, absl::InfiniteFuture());
  EXPECT_EQ(research.time,
            absl::FromUnixSeconds(1795999000) + absl::Milliseconds(500));
  EXPECT_FALSE(research.name_ja.empty());
  EXPECT_FALSE(research.name_en.empty());
  // The policy's rules: identity opt-out, measurement and web usage opt-in.
  EXPECT_THAT(
      research.categories,
      ::testing::IsSupersetOf({ReceiptCategory{"identity", "opt_out"},
                               ReceiptCategory{"measurement", "opt_in"},
                               ReceiptCategory{"web_usage", "opt_in"}}));
  EXPECT_THAT(r->receipt_id, StartsWith("rcpt-"));
  EXPECT_EQ(r->receipt_id.size(), 5u + 32u);
  EXPECT_TRUE(r->key_id.empty());
  EXPECT_TRUE(r->signature.empty());
}

TEST_F(ConsentReceiptTest, ReceiptIdIsDerivedFromTheContent) {
  absl::StatusOr<ConsentReceipt> a =
      BuildConsentReceipt(*policy_, Record(), Options());
  absl::StatusOr<ConsentReceipt> b =
      BuildConsentReceipt(*policy_, Record(), Options());
  v1::ConsentRecord later = Record();
  later.set_revision(43);
  absl::StatusOr<ConsentReceipt> c =
      BuildConsentReceipt(*policy_, later, Options());
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  ASSERT_OK(c.status());
  EXPECT_EQ(a->receipt_id, b->receipt_id);
  EXPECT_NE(a->receipt_id, c->receipt_id);
}

TEST_F(ConsentReceiptTest, ControllerDefaultsToThePolicyTitleAndContactWindow) {
  absl::StatusOr<ConsentReceipt> r =
      BuildConsentReceipt(*policy_, Record(), ReceiptOptions{});
  ASSERT_OK(r.status());
  EXPECT_FALSE(r->controller.name.empty());
}

TEST_F(ConsentReceiptTest, PurposeFilterKeepsOnlyThosePurposes) {
  ReceiptOptions o = Options();
  o.purposes = {"marketing.research"};
  absl::StatusOr<ConsentReceipt> r = BuildConsentReceipt(*policy_, Record(), o);
  ASSERT_OK(r.status());
  ASSERT_EQ(r->purposes.size(), 1u);
  EXPECT_EQ(r->purposes[0].purpose, "marketing.research");
  o.purposes = {"support"};
  EXPECT_THAT(BuildConsentReceipt(*policy_, Record(), o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no consent entry")));
}

TEST_F(ConsentReceiptTest, BuildRefusesRecordsThatCannotMakeAReceipt) {
  v1::ConsentRecord no_subject = Record();
  no_subject.clear_subject_id();
  v1::ConsentRecord no_revision = Record();
  no_revision.set_revision(0);
  v1::ConsentRecord lost = Record();
  lost.set_data_loss("sqlite: row does not parse");
  v1::ConsentRecord empty = Record();
  empty.clear_purposes();
  v1::ConsentRecord unspecified = Record();
  unspecified.mutable_purposes(0)->set_state(v1::CONSENT_STATE_UNSPECIFIED);
  v1::ConsentRecord far_future = Record();
  far_future.mutable_purposes(0)->mutable_time()->set_seconds(std::int64_t{1}
                                                              << 50);
  for (const v1::ConsentRecord& r :
       {no_subject, no_revision, lost, empty, unspecified, far_future}) {
    EXPECT_THAT(BuildConsentReceipt(*policy_, r, Options()),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << r.ShortDebugString();
  }
  EXPECT_THAT(
      BuildConsentReceipt(*policy_, unspecified, Options()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("member-7")));
}

TEST_F(ConsentReceiptTest, SignedReceiptVerifiesAndReserialisesToTheSameBytes) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  const std::string json = SignedJson(*keys);
  absl::StatusOr<ConsentReceipt> v = VerifyReceipt(json, *keys);
  ASSERT_OK(v.status());
  EXPECT_EQ(SerializeReceipt(*v), json);
  EXPECT_EQ(v->key_id, *keys->CurrentKeyId());
  EXPECT_EQ(v->signature.size(), 64u);
  // Ed25519 is deterministic: the same receipt signs to the same bytes.
  EXPECT_EQ(SignedJson(*keys), json);
  // A verifier that holds only public keys.
  auto verifier = Keys({kPublic});
  ASSERT_NE(verifier, nullptr);
  EXPECT_OK(VerifyReceipt(json, *verifier).status());
}

// A receipt written by this version must verify in every later one: the
// canonical form is a published format. Built by hand, so that no policy
// edit changes it.
TEST_F(ConsentReceiptTest, GoldenReceiptKeepsItsCanonicalBytes) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  ConsentReceipt r;
  r.receipt_id = "rcpt-00000000000000000000000000000001";
  r.controller = {"株式会社サンプルヘルス", "privacy@example.jp"};
  r.subject_id = "member-7";
  r.revision = 42;
  r.time = absl::FromUnixSeconds(1796000000);
  r.catalogue_version = "2026-11-01";
  ReceiptPurpose p;
  p.purpose = "marketing.research";
  p.name_ja = "市場調査・分析";
  p.name_en = "Marketing research and analysis";
  p.state = "given";
  p.time = absl::FromUnixSeconds(1795999000) + absl::Milliseconds(500);
  p.policy_version = "2026-11-01";
  p.notice_version = "notice-3";
  p.method = "web_form";
  p.evidence = "form \"2231\"\n";
  p.categories = {{"identity", "opt_out"}, {"measurement", "opt_in"}};
  r.purposes.push_back(p);
  p.purpose = "occasion.joint_study";
  p.occasion = "study-9";
  p.state = "withdrawn";
  p.expiry = absl::FromUnixSeconds(1890000000);
  p.categories = {};
  r.purposes.push_back(p);
  ASSERT_OK(SignReceipt(*keys, r));
  absl::StatusOr<std::string> golden =
      ReadFileToString(SourcePath("tests/testdata/receipt_golden.json"));
  ASSERT_OK(golden.status());
  EXPECT_EQ(SerializeReceipt(r), *golden);
  absl::StatusOr<ConsentReceipt> v = VerifyReceipt(*golden, *keys);
  ASSERT_OK(v.status());
  EXPECT_EQ(*v, r);
}

TEST_F(ConsentReceiptTest, CanonicalFormEscapesOnlyWhatJsonRequires) {
  ConsentReceipt r;
  r.receipt_id = "rcpt-x";
  r.controller.name = "A \"B\" \\ C\n\t\x01\x7f 山田";
  r.subject_id = "s";
  r.revision = 1;
  ReceiptPurpose p;
  p.purpose = "p";
  p.state = "given";
  p.method = "phone";
  r.purposes.push_back(p);
  const std::string json = SerializeReceipt(r);
  EXPECT_THAT(json, HasSubstr(R"("name":"A \"B\" \\ C\n\t\u0001)"
                              "\x7f 山田\"}"));
  EXPECT_THAT(json, StartsWith(R"({"catalogue_version":"","controller":)"));
  EXPECT_THAT(json, HasSubstr(R"("expiry":"")"));
  EXPECT_THAT(json, HasSubstr(R"("time":"1970-01-01T00:00:00Z")"));
  // Years below 1000 keep four digits (RFC 3339).
  r.purposes[0].time =
      absl::FromCivil(absl::CivilSecond(2, 2, 5, 0, 0, 0), absl::UTCTimeZone());
  const std::string early = SerializeReceipt(r);
  EXPECT_THAT(early, HasSubstr(R"("time":"0002-02-05T00:00:00Z")"));
  ASSERT_OK(ParseReceipt(early).status());
  EXPECT_EQ(ParseReceipt(early)->purposes[0].time, r.purposes[0].time);
  r.purposes[0].time = absl::UnixEpoch();
  absl::StatusOr<ConsentReceipt> back = ParseReceipt(json);
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, r);
}

TEST_F(ConsentReceiptTest, EveryOneByteChangeFailsVerification) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  const std::string json = SignedJson(*keys);
  ASSERT_OK(VerifyReceipt(json, *keys).status());
  for (std::size_t i = 0; i < json.size(); ++i) {
    for (const int delta : {0x01, 0x20, 0x80}) {
      std::string bad = json;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ delta);
      EXPECT_FALSE(VerifyReceipt(bad, *keys).ok())
          << "byte " << i << " ^ " << delta;
    }
  }
  for (std::size_t i = 0; i <= json.size(); i += 7) {
    std::string longer = json;
    longer.insert(i, " ");
    EXPECT_FALSE(VerifyReceipt(longer, *keys).ok()) << "space at " << i;
  }
  EXPECT_FALSE(VerifyReceipt(json + "\n", *keys).ok());
  EXPECT_FALSE(VerifyReceipt(json.substr(0, json.size() - 1), *keys).ok());
}

TEST_F(ConsentReceiptTest, TamperedFieldFailsWithUnauthenticated) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  const std::string json = SignedJson(*keys);
  // Still canonical, so only the signature can tell.
  const std::string refused = absl::StrReplaceAll(
      json, {{R"("state":"given")", R"("state":"refused")"}});
  ASSERT_NE(refused, json);
  EXPECT_THAT(VerifyReceipt(refused, *keys),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("does not verify")));
  const std::string other_subject = absl::StrReplaceAll(
      json, {{R"("subject":"member-7")", R"("subject":"member-8")"}});
  EXPECT_THAT(VerifyReceipt(other_subject, *keys),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
  const std::string older =
      absl::StrReplaceAll(json, {{R"("revision":42)", R"("revision":41)"}});
  EXPECT_THAT(VerifyReceipt(older, *keys),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
}

TEST_F(ConsentReceiptTest, TamperedSignatureFailsWithUnauthenticated) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  std::string json = SignedJson(*keys);
  const std::size_t at = json.find(R"("signature":")") + 13;
  json[at] = json[at] == 'A' ? 'B' : 'A';
  EXPECT_THAT(VerifyReceipt(json, *keys),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
}

TEST_F(ConsentReceiptTest, UnknownKeyIdFailsWithNotFound) {
  auto signer = Keys({kKeys + "/2025.pem"});
  auto verifier = Keys({kPublic + "/2026.pem"});
  ASSERT_NE(signer, nullptr);
  ASSERT_NE(verifier, nullptr);
  const std::string json = SignedJson(*signer);
  EXPECT_THAT(VerifyReceipt(json, *verifier),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not known")));
}

TEST_F(ConsentReceiptTest, UnsignedReceiptFailsVerification) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  absl::StatusOr<ConsentReceipt> r =
      BuildConsentReceipt(*policy_, Record(), Options());
  ASSERT_OK(r.status());
  const std::string json = SerializeReceipt(*r);
  EXPECT_OK(ParseReceipt(json).status());
  EXPECT_THAT(
      VerifyReceipt(json, *keys),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not signed")));
}

// Rotation: receipts signed under the old key verify after the signing key
// changed, as long as the old public key is known.
TEST_F(ConsentReceiptTest, ReceiptsSignedUnderARetiredKeyStillVerify) {
  auto old_keys = Keys({kKeys}, kKeys + "/2025.pem");
  ASSERT_NE(old_keys, nullptr);
  const std::string old_receipt = SignedJson(*old_keys);

  auto rotated = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(rotated, nullptr);
  EXPECT_NE(*rotated->CurrentKeyId(), *old_keys->CurrentKeyId());
  const std::string new_receipt = SignedJson(*rotated);
  EXPECT_NE(new_receipt, old_receipt);
  EXPECT_OK(VerifyReceipt(old_receipt, *rotated).status());
  EXPECT_OK(VerifyReceipt(new_receipt, *rotated).status());

  // The old private key destroyed, its public half kept.
  auto kept_public = Keys({kKeys + "/2026.pem", kPublic + "/2025.pem"});
  ASSERT_NE(kept_public, nullptr);
  EXPECT_EQ(*kept_public->CurrentKeyId(), *rotated->CurrentKeyId());
  EXPECT_OK(VerifyReceipt(old_receipt, *kept_public).status());
  EXPECT_THAT(kept_public->Sign(*old_keys->CurrentKeyId(), "x"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  // Forgotten altogether: the old receipts no longer verify.
  auto forgot = Keys({kKeys + "/2026.pem"});
  ASSERT_NE(forgot, nullptr);
  EXPECT_THAT(VerifyReceipt(old_receipt, *forgot),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(ConsentReceiptTest, KeyIdIsDerivedFromThePublicKey) {
  auto priv = Keys({kKeys + "/2026.pem"});
  auto pub = Keys({kPublic + "/2026.pem"});
  ASSERT_NE(priv, nullptr);
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(priv->KeyIds(), pub->KeyIds());
  const std::string id = *priv->CurrentKeyId();
  EXPECT_THAT(id, StartsWith("ed25519:"));
  EXPECT_EQ(id.size(), 8u + 32u);
  absl::StatusOr<std::string> raw = pub->PublicKey(id);
  ASSERT_OK(raw.status());
  EXPECT_EQ(*Ed25519KeyId(*raw), id);
  EXPECT_THAT(Ed25519KeyId(std::string(31, 'k')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32")));
  EXPECT_THAT(pub->CurrentKeyId(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no private key")));
  ConsentReceipt r;
  EXPECT_THAT(SignReceipt(*pub, r),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

TEST_F(ConsentReceiptTest, BadKeyFilesAreErrorsNeverNoKey) {
  const std::string empty = Write("empty.pem", "");
  const std::string garbage = Write("garbage.pem", "not a key\n");
  const std::string truncated =
      Write("truncated.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOXJ\n"
            "-----END PRIVATE KEY-----\n");
  const std::string both =
      Write("both.pem", *ReadFileToString(kKeys + "/2025.pem") +
                            *ReadFileToString(kPublic + "/2026.pem"));
  fs::create_directories(dir_ + "/d/sub.pem");
  fs::create_symlink(dir_ + "/loop.pem", dir_ + "/loop.pem");
  const std::string huge = Write(
      "huge.pem", "-----BEGIN PRIVATE KEY-----\n" + std::string(70000, 'A'));
  struct Case {
    std::vector<std::string> paths;
    std::string signing;
    absl::StatusCode code;
    std::string message;
  } cases[] = {
      {{dir_ + "/missing.pem"}, "", absl::StatusCode::kNotFound, "missing.pem"},
      {{empty}, "", absl::StatusCode::kInvalidArgument, "is empty"},
      {{garbage}, "", absl::StatusCode::kInvalidArgument, "garbage.pem"},
      {{truncated}, "", absl::StatusCode::kInvalidArgument, "truncated.pem"},
      {{both}, "", absl::StatusCode::kInvalidArgument, "both.pem"},
      {{kBad + "/ec_p256.pem"},
       "",
       absl::StatusCode::kInvalidArgument,
       "not Ed25519"},
      {{kBad + "/ed448.pem"},
       "",
       absl::StatusCode::kInvalidArgument,
       "not Ed25519"},
      {{dir_ + "/d/sub.pem"}, "", absl::StatusCode::kNotFound, "no key"},
      {{dir_ + "/d"}, "", absl::StatusCode::kInvalidArgument, "sub.pem"},
      {{kKeys}, "", absl::StatusCode::kFailedPrecondition, "several"},
      {{kKeys},
       kPublic + "/2026.pem",
       absl::StatusCode::kInvalidArgument,
       "public key"},
      {{kKeys}, kKeys, absl::StatusCode::kInvalidArgument, "receipt_keys"},
      {{}, "", absl::StatusCode::kNotFound, "no key"},
      {{dir_ + "/loop.pem"},
       "",
       absl::StatusCode::kInvalidArgument,
       "loop.pem"},
      {{huge}, "", absl::StatusCode::kResourceExhausted, "huge.pem"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(OpenKeys(c.paths, c.signing),
                StatusIs(c.code, HasSubstr(c.message)))
        << (c.paths.empty() ? "" : c.paths[0]) << " / " << c.signing;
  }
}

TEST_F(ConsentReceiptTest, EncryptedPrivateKeyIsRefusedWithoutPrompting) {
  // PKCS#8 encrypted with a passphrase (openssl pkcs8 -topk8 -v2 aes256).
  const std::string encrypted = kBad + "/encrypted.pem";
  EXPECT_THAT(
      OpenKeys({encrypted}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("encrypted.pem")));
  EXPECT_THAT(OpenKeys({kKeys}, encrypted),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(ConsentReceiptTest, MalformedDocumentsAreInvalidArgument) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  const std::string good = SignedJson(*keys);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const std::size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  const std::vector<std::string> bad = {
      "",
      "{",
      "[]",
      "null",
      "{}",
      " " + good,
      good + "\n",
      std::string("\xff\xfe") + good,
      replace("member-7", "member-\xc3"),          // not UTF-8
      replace("member-7", "member-\xed\xa0\x80"),  // a surrogate
      replace(R"("revision":42)", R"("revision":042)"),
      replace(R"("revision":42)", R"("revision":-42)"),
      replace(R"("revision":42)", R"("revision":4.2)"),
      replace(R"("revision":42)", R"("revision":"42")"),
      replace(R"("revision":42)", R"("revision":99999999999999999999)"),
      replace(R"("state":"given")", R"("state":"maybe")"),
      replace(R"("method":"web_form")", R"("method":"pigeon")"),
      replace(R"("basis":"opt_in")", R"("basis":"legitimate")"),
      replace(R"("schema":"consentry.receipt/1")",
              R"("schema":"consentry.receipt/2")"),
      replace(R"("subject":"member-7")", R"("subject":"member-7","x":"")"),
      replace(R"("subject":"member-7",)", ""),
      replace(R"("subject":"member-7")", R"("subject":"member\u002d7")"),
      replace(R"("subject":"member-7")",
              R"("subject":"member-7","subject":"")"),
      replace(R"("time":"2026-)", R"("time":"2026/)"),
      // The same content spelled otherwise: a longer time, members out of
      // order, padded base64.
      replace(R"("time":"2026-11-30T00:53:20Z")",
              R"("time":"2026-11-30T00:53:20.000Z")"),
      replace(
          R"({"contact":"privacy@example.jp","name":"Example Health K.K."})",
          R"({"name":"Example Health K.K.","contact":"privacy@example.jp"})"),
      replace(R"(","subject":"member-7")", R"(==","subject":"member-7")"),
      replace(R"("purposes":[)", R"("purposes":[[[[[[[[[[[[)"),
      std::string(kMaxReceiptBytes + 1, '{'),
      std::string(100000, '['),
  };
  for (const std::string& b : bad) {
    EXPECT_THAT(VerifyReceipt(b, *keys),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << b.substr(0, 200);
  }
  EXPECT_THAT(
      ParseReceipt(" " + good),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte 0")));
  EXPECT_THAT(ParseReceipt(replace("member-7", "member-\xc3")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

class FakeProvider final : public SigningKeyProvider {
 public:
  explicit FakeProvider(FileKeyProvider* real) : real_(real) {}
  absl::StatusOr<std::string> PublicKey(absl::string_view id) override {
    if (swap_public_key) return real_->PublicKey(other_id_);
    return real_->PublicKey(id);
  }
  absl::StatusOr<std::string> CurrentKeyId() override {
    return real_->CurrentKeyId();
  }
  absl::StatusOr<std::string> Sign(absl::string_view id,
                                   absl::string_view message) override {
    if (short_signature) return std::string(63, 's');
    if (unavailable) return absl::UnavailableError("kms down");
    return real_->Sign(id, message);
  }
  void SetOther(std::string id) { other_id_ = std::move(id); }
  bool short_signature = false;
  bool unavailable = false;
  bool swap_public_key = false;

 private:
  FileKeyProvider* real_;
  std::string other_id_;
};

TEST_F(ConsentReceiptTest, ProviderFailuresAreReportedNotHidden) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  FakeProvider fake(keys.get());
  absl::StatusOr<ConsentReceipt> r =
      BuildConsentReceipt(*policy_, Record(), Options());
  ASSERT_OK(r.status());
  fake.short_signature = true;
  EXPECT_THAT(SignReceipt(fake, *r),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("63-byte")));
  EXPECT_TRUE(r->signature.empty());
  EXPECT_TRUE(r->key_id.empty());
  fake.short_signature = false;
  fake.unavailable = true;
  EXPECT_THAT(SignReceipt(fake, *r),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  fake.unavailable = false;
  ASSERT_OK(SignReceipt(fake, *r));
  const std::string json = SerializeReceipt(*r);
  // A lookup that answers with another key than the id names.
  fake.SetOther(keys->KeyIds()[0] == r->key_id ? keys->KeyIds()[1]
                                               : keys->KeyIds()[0]);
  fake.swap_public_key = true;
  EXPECT_THAT(VerifyReceipt(json, fake),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("whose id")));
}

TEST_F(ConsentReceiptTest, RendersJapaneseAndEnglishText) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  absl::StatusOr<ConsentReceipt> r =
      BuildConsentReceipt(*policy_, Record(), Options());
  ASSERT_OK(r.status());
  r->purposes[1].occasion = "a|b";
  const std::string unsigned_ja = RenderReceipt(*r, "ja");
  EXPECT_THAT(unsigned_ja, HasSubstr("署名されていません"));
  ASSERT_OK(SignReceipt(*keys, *r));
  const std::string ja = RenderReceipt(*r, "ja");
  const std::string en = RenderReceipt(*r, "en");
  EXPECT_THAT(ja, StartsWith("# 同意の受領書\n"));
  EXPECT_THAT(ja, HasSubstr(r->receipt_id));
  EXPECT_THAT(ja, HasSubstr("Example Health K.K. (privacy@example.jp)"));
  EXPECT_THAT(ja, HasSubstr("| 同意 |"));
  EXPECT_THAT(ja, HasSubstr("| 撤回 |"));
  EXPECT_THAT(ja, HasSubstr("ウェブフォーム"));
  EXPECT_THAT(ja, HasSubstr(r->purposes[1].name_ja));
  EXPECT_THAT(ja, HasSubstr("measurement (同意による)"));
  EXPECT_THAT(ja, HasSubstr("+09:00"));
  EXPECT_THAT(ja, HasSubstr("a\\|b"));
  EXPECT_THAT(ja, HasSubstr("署名: Ed25519、鍵 " + r->key_id));
  EXPECT_THAT(en, StartsWith("# Consent receipt\n"));
  EXPECT_THAT(en, HasSubstr("| given |"));
  EXPECT_THAT(en, HasSubstr("| withdrawn |"));
  EXPECT_THAT(en, HasSubstr("web form"));
  EXPECT_THAT(en, HasSubstr(r->purposes[1].name_en));
  EXPECT_THAT(en, HasSubstr("Signature: Ed25519, key " + r->key_id));
  EXPECT_THAT(en, ::testing::Not(HasSubstr("同意")));
}

TEST_F(ConsentReceiptTest, HistoryGivesOneReceiptPerConsentChange) {
  InMemoryConsentStore store;
  using ::consentry::testing::PurposeChange;
  ASSERT_OK(store
                .Apply(PurposeChange("member-7", "marketing.research",
                                     v1::CONSENT_STATE_GIVEN))
                .status());
  ASSERT_OK(store
                .Apply(PurposeChange("member-7", "marketing.promotion",
                                     v1::CONSENT_STATE_GIVEN))
                .status());
  v1::ConsentChange restrict;
  restrict.set_subject_id("member-7");
  restrict.mutable_restrictions()->set_third_party_provision_stopped(true);
  ASSERT_OK(store.Apply(restrict).status());
  ASSERT_OK(store
                .Apply(PurposeChange("member-7", "marketing.research",
                                     v1::CONSENT_STATE_WITHDRAWN))
                .status());
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> history =
      store.History("member-7");
  ASSERT_OK(history.status());
  std::vector<v1::ConsentRecord> versions;
  for (const auto& e : *history) versions.push_back(e.state());
  absl::StatusOr<std::vector<ConsentReceipt>> receipts =
      ReceiptsForHistory(*policy_, versions, Options());
  ASSERT_OK(receipts.status());
  ASSERT_EQ(receipts->size(), 3u);
  EXPECT_EQ((*receipts)[0].revision, 1);
  EXPECT_EQ((*receipts)[1].revision, 2);
  EXPECT_EQ((*receipts)[2].revision, 4);
  ASSERT_EQ((*receipts)[2].purposes.size(), 1u);
  EXPECT_EQ((*receipts)[2].purposes[0].purpose, "marketing.research");
  EXPECT_EQ((*receipts)[2].purposes[0].state, "withdrawn");
  EXPECT_EQ((*receipts)[1].purposes[0].purpose, "marketing.promotion");
  EXPECT_EQ((*receipts)[1].purposes[0].method, "mobile_app");
}

// FileKeyProvider is immutable after Open: threads sign and verify with one
// provider at once and get the bytes one thread gets.
TEST_F(ConsentReceiptTest, ConcurrentSigningAndVerifyingAgree) {
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  ASSERT_NE(keys, nullptr);
  const std::string expected = SignedJson(*keys);
  absl::StatusOr<ConsentReceipt> unsigned_receipt =
      BuildConsentReceipt(*policy_, Record(), Options());
  ASSERT_OK(unsigned_receipt.status());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        ConsentReceipt r = *unsigned_receipt;
        const bool ok = SignReceipt(*keys, r).ok() &&
                        SerializeReceipt(r) == expected &&
                        VerifyReceipt(expected, *keys).ok();
        if (!ok) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace consentry
