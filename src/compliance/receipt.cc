// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Consent receipts: the canonical JSON form, its strict reader, signing
// and verification (keys: consentry/signing.h), and the readable Japanese
// and English text.
// docs/design/receipts.md describes the format.

#include "consentry/receipt.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "consentry/v1/policy.pb.h"
#include "google/protobuf/stubs/common.h"
#include "src/compliance/request_answers.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

constexpr std::size_t kEd25519SignatureBytes = 64;
// JSON integers are exact only up to 2^53 - 1 (RFC 8785, I-JSON).
constexpr std::int64_t kMaxJsonInteger = (std::int64_t{1} << 53) - 1;
constexpr int kMaxJsonDepth = 8;

std::string Sha256(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) !=
      1) {
    return "";
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool IsValidUtf8(absl::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(
      s.data(), static_cast<int>(s.size()));
}

// ---------------------------------------------------------------------------
// Canonical JSON writing.

void AppendJsonString(absl::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// A member `"key":"value"` with the separator before it unless first.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  ~ObjectWriter() { out_.push_back('}'); }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  std::string& Key(absl::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    AppendJsonString(key, out_);
    out_.push_back(':');
    return out_;
  }
  void String(absl::string_view key, absl::string_view value) {
    AppendJsonString(value, Key(key));
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// RFC 3339 UTC with a four-digit year; read with %Y (this Abseil cannot
// parse %4Y), the canonical comparison then requires the four digits.
constexpr char kTimeFormat[] = "%4Y-%m-%dT%H:%M:%E*SZ";
constexpr char kTimeParseFormat[] = "%Y-%m-%dT%H:%M:%E*SZ";

std::string TimeText(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "";
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

void AppendPurpose(const ReceiptPurpose& p, std::string& out) {
  ObjectWriter o(out);
  std::string& cats = o.Key("categories");
  cats.push_back('[');
  for (std::size_t i = 0; i < p.categories.size(); ++i) {
    if (i > 0) cats.push_back(',');
    ObjectWriter c(cats);
    c.String("basis", p.categories[i].basis);
    c.String("category", p.categories[i].category);
  }
  cats.push_back(']');
  o.String("evidence", p.evidence);
  o.String("expiry", TimeText(p.expiry));
  o.String("method", p.method);
  {
    ObjectWriter name(o.Key("name"));
    name.String("en", p.name_en);
    name.String("ja", p.name_ja);
  }
  o.String("notice_version", p.notice_version);
  o.String("occasion", p.occasion);
  o.String("policy_version", p.policy_version);
  o.String("purpose", p.purpose);
  o.String("state", p.state);
  o.String("time", TimeText(p.time));
}

std::string Base64Url(absl::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);  // no padding
  return out;
}

std::string CanonicalJson(const ConsentReceipt& r, bool with_signature) {
  std::string out;
  {
    ObjectWriter o(out);
    o.String("catalogue_version", r.catalogue_version);
    {
      ObjectWriter c(o.Key("controller"));
      c.String("contact", r.controller.contact);
      c.String("name", r.controller.name);
    }
    o.String("key_id", r.key_id);
    std::string& ps = o.Key("purposes");
    ps.push_back('[');
    for (std::size_t i = 0; i < r.purposes.size(); ++i) {
      if (i > 0) ps.push_back(',');
      AppendPurpose(r.purposes[i], ps);
    }
    ps.push_back(']');
    o.String("receipt_id", r.receipt_id);
    absl::StrAppend(&o.Key("revision"), r.revision);
    o.String("schema", kReceiptSchema);
    if (with_signature) o.String("signature", Base64Url(r.signature));
    o.String("subject", r.subject_id);
    o.String("time", TimeText(r.time));
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON reading: a strict parser for the subset receipts use (objects,
// arrays, strings, non-negative integers). Anything else is an error.

struct JsonValue {
  enum class Type { kObject, kArray, kString, kInteger } type;
  std::size_t offset = 0;
  std::string str;
  std::int64_t integer = 0;
  // An object's member names; its values are in `items`, in the same order.
  std::vector<std::string> names;
  std::vector<JsonValue> items;
};

class JsonParser {
 public:
  explicit JsonParser(absl::string_view in) : in_(in) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    ASSIGN_OR_RETURN(JsonValue v, Value(0));
    if (pos_ != in_.size()) {
      return Error(
          "trailing bytes after the receipt (not canonical: no whitespace "
          "or newline)");
    }
    return v;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt: byte ", pos_, ": ", what));
  }

  absl::StatusOr<JsonValue> Value(int depth) {
    if (depth > kMaxJsonDepth) return Error("nested too deeply");
    if (pos_ >= in_.size()) return Error("unexpected end of input");
    JsonValue v;
    v.offset = pos_;
    const char c = in_[pos_];
    if (c == '{') {
      v.type = JsonValue::Type::kObject;
      RETURN_IF_ERROR(Object(depth, v));
    } else if (c == '[') {
      v.type = JsonValue::Type::kArray;
      RETURN_IF_ERROR(Array(depth, v));
    } else if (c == '"') {
      v.type = JsonValue::Type::kString;
      ASSIGN_OR_RETURN(v.str, String());
    } else if (c >= '0' && c <= '9') {
      v.type = JsonValue::Type::kInteger;
      ASSIGN_OR_RETURN(v.integer, Integer());
    } else {
      return Error(
          "expected an object, array, string or non-negative integer "
          "(whitespace, null, booleans and fractions are not canonical)");
    }
    return v;
  }

  absl::Status Object(int depth, JsonValue& v) {
    ++pos_;  // '{'
    if (Consume('}')) return absl::OkStatus();
    while (true) {
      if (!Peek('"')) return Error("expected a member name");
      ASSIGN_OR_RETURN(std::string key, String());
      for (const std::string& name : v.names) {
        if (name == key) return Error(absl::StrCat("duplicate '", key, "'"));
      }
      if (!Peek(':')) return Error("expected ':'");
      ++pos_;
      ASSIGN_OR_RETURN(JsonValue member, Value(depth + 1));
      v.names.push_back(std::move(key));
      v.items.push_back(std::move(member));
      if (Consume('}')) return absl::OkStatus();
      if (!Peek(',')) return Error("expected ',' or '}'");
      ++pos_;
    }
  }

  absl::Status Array(int depth, JsonValue& v) {
    ++pos_;  // '['
    if (Consume(']')) return absl::OkStatus();
    while (true) {
      ASSIGN_OR_RETURN(JsonValue item, Value(depth + 1));
      v.items.push_back(std::move(item));
      if (Consume(']')) return absl::OkStatus();
      if (!Peek(',')) return Error("expected ',' or ']'");
      ++pos_;
    }
  }

  // Accepts the escapes the canonical form writes, and \u00XX below 0x20;
  // every other escape has a canonical spelling without it.
  absl::StatusOr<std::string> String() {
    ++pos_;  // '"'
    std::string out;
    while (true) {
      if (pos_ >= in_.size()) return Error("unterminated string");
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return Error("unescaped control character in a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= in_.size()) return Error("unterminated escape");
      const char e = in_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > in_.size()) return Error("short \\u escape");
          const absl::string_view hex = in_.substr(pos_, 4);
          const int hi = HexDigit(hex[2]);
          const int lo = HexDigit(hex[3]);
          if (hex.substr(0, 2) != "00" || hi < 0 || hi > 1 || lo < 0) {
            return Error("a \\u escape other than a control character");
          }
          out.push_back(static_cast<char>(hi * 16 + lo));
          pos_ += 4;
          break;
        }
        default:
          return Error("unknown escape");
      }
    }
    ++pos_;  // closing '"'
    if (out.size() > kMaxReceiptStringBytes) {
      return Error(absl::StrCat("a string longer than ", kMaxReceiptStringBytes,
                                " bytes"));
    }
    return out;
  }

  absl::StatusOr<std::int64_t> Integer() {
    const std::size_t start = pos_;
    std::int64_t v = 0;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') {
      v = v * 10 + (in_[pos_] - '0');
      ++pos_;
      if (v > kMaxJsonInteger) return Error("integer out of range");
    }
    if (pos_ - start > 1 && in_[start] == '0') return Error("leading zero");
    if (pos_ < in_.size() &&
        (in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E')) {
      return Error("not an integer");
    }
    return v;
  }

  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool Peek(char c) const { return pos_ < in_.size() && in_[pos_] == c; }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  absl::string_view in_;
  std::size_t pos_ = 0;
};

// Reads the members of one receipt object, each exactly once.
class Members {
 public:
  Members(const JsonValue& v, absl::string_view where) : where_(where) {
    if (v.type != JsonValue::Type::kObject) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          "receipt: byte ", v.offset, ": ", where_, " is not an object"));
      return;
    }
    for (std::size_t i = 0; i < v.names.size(); ++i) {
      members_[v.names[i]] = &v.items[i];
    }
  }

  const JsonValue* Get(absl::string_view key, JsonValue::Type type) {
    if (!status_.ok()) return nullptr;
    auto it = members_.find(std::string(key));
    if (it == members_.end()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("receipt: ", where_, " has no '", key, "'"));
      return nullptr;
    }
    if (it->second->type != type) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("receipt: byte ", it->second->offset, ": ", where_, ".",
                       key, " has the wrong type"));
      return nullptr;
    }
    const JsonValue* v = it->second;
    members_.erase(it);
    return v;
  }

  void String(absl::string_view key, std::string& out) {
    if (const JsonValue* v = Get(key, JsonValue::Type::kString)) out = v->str;
  }

  // The status after every expected member was read: unknown members left
  // over are an error.
  absl::Status Done() {
    if (status_.ok() && !members_.empty()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("receipt: ", where_, " has an unknown member '",
                       members_.begin()->first, "'"));
    }
    return status_;
  }

 private:
  std::string where_;
  std::map<std::string, const JsonValue*> members_;
  absl::Status status_;
};

absl::Status ParseTime(absl::string_view text, absl::string_view what,
                       bool allow_empty, absl::Time& out) {
  if (text.empty() && allow_empty) {
    out = absl::InfiniteFuture();
    return absl::OkStatus();
  }
  std::string err;
  // RFC 3339 has four-digit years: 0001-01-01 to 9999-12-31.
  static const absl::Time kMin = absl::FromUnixSeconds(-62135596800);
  static const absl::Time kEnd = absl::FromUnixSeconds(253402300800);
  if (!absl::ParseTime(kTimeParseFormat, text, absl::UTCTimeZone(), &out,
                       &err) ||
      out < kMin || out >= kEnd) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: ", what, " '", text, "' is not an RFC 3339 UTC ", "time"));
  }
  return absl::OkStatus();
}

constexpr absl::string_view kStates[] = {"given", "refused", "withdrawn",
                                         "expired"};
constexpr absl::string_view kMethods[] = {
    "unspecified", "web_form", "mobile_app", "paper_form",
    "phone",       "email",    "in_person",  "imported"};
constexpr absl::string_view kBases[] = {"necessary", "opt_in", "opt_out"};

template <std::size_t N>
bool OneOf(const absl::string_view (&values)[N], absl::string_view v) {
  return std::find(std::begin(values), std::end(values), v) != std::end(values);
}

absl::Status ReadCategories(const JsonValue& array, const std::string& where,
                            std::vector<ReceiptCategory>& out) {
  if (array.items.size() > kMaxReceiptCategories) {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt: ", where, " has more than ",
                     kMaxReceiptCategories, " categories"));
  }
  for (std::size_t i = 0; i < array.items.size(); ++i) {
    const std::string at = absl::StrCat(where, ".categories[", i, "]");
    Members m(array.items[i], at);
    ReceiptCategory c;
    m.String("basis", c.basis);
    m.String("category", c.category);
    RETURN_IF_ERROR(m.Done());
    if (!OneOf(kBases, c.basis)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "receipt: ", at, ".basis '", c.basis, "' is not a legal basis"));
    }
    out.push_back(std::move(c));
  }
  return absl::OkStatus();
}

absl::Status ReadPurpose(const JsonValue& v, std::size_t index,
                         ReceiptPurpose& p) {
  const std::string where = absl::StrCat("purposes[", index, "]");
  Members m(v, where);
  const JsonValue* cats = m.Get("categories", JsonValue::Type::kArray);
  std::string expiry, time;
  m.String("evidence", p.evidence);
  m.String("expiry", expiry);
  m.String("method", p.method);
  if (const JsonValue* name = m.Get("name", JsonValue::Type::kObject)) {
    Members n(*name, where + ".name");
    n.String("en", p.name_en);
    n.String("ja", p.name_ja);
    RETURN_IF_ERROR(n.Done());
  }
  m.String("notice_version", p.notice_version);
  m.String("occasion", p.occasion);
  m.String("policy_version", p.policy_version);
  m.String("purpose", p.purpose);
  m.String("state", p.state);
  m.String("time", time);
  RETURN_IF_ERROR(m.Done());
  RETURN_IF_ERROR(ReadCategories(*cats, where, p.categories));
  if (!OneOf(kStates, p.state)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: ", where, ".state '", p.state, "' is not a consent state"));
  }
  if (!OneOf(kMethods, p.method)) {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt: ", where, ".method '", p.method,
                     "' is not a collection method"));
  }
  if (p.purpose.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt: ", where, ".purpose is empty"));
  }
  RETURN_IF_ERROR(ParseTime(time, where + ".time", false, p.time));
  return ParseTime(expiry, where + ".expiry", true, p.expiry);
}

absl::Status ReadReceipt(const JsonValue& doc, ConsentReceipt& r) {
  Members m(doc, "the receipt");
  std::string schema, signature, time;
  m.String("catalogue_version", r.catalogue_version);
  if (const JsonValue* c = m.Get("controller", JsonValue::Type::kObject)) {
    Members cm(*c, "controller");
    cm.String("contact", r.controller.contact);
    cm.String("name", r.controller.name);
    RETURN_IF_ERROR(cm.Done());
  }
  m.String("key_id", r.key_id);
  const JsonValue* purposes = m.Get("purposes", JsonValue::Type::kArray);
  m.String("receipt_id", r.receipt_id);
  if (const JsonValue* rev = m.Get("revision", JsonValue::Type::kInteger)) {
    r.revision = rev->integer;
  }
  m.String("schema", schema);
  m.String("signature", signature);
  m.String("subject", r.subject_id);
  m.String("time", time);
  RETURN_IF_ERROR(m.Done());
  if (schema != kReceiptSchema) {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt: schema '", schema, "' is not ", kReceiptSchema));
  }
  if (purposes->items.empty() || purposes->items.size() > kMaxReceiptPurposes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: between 1 and ", kMaxReceiptPurposes, " purposes expected"));
  }
  r.purposes.resize(purposes->items.size());
  for (std::size_t i = 0; i < r.purposes.size(); ++i) {
    RETURN_IF_ERROR(ReadPurpose(purposes->items[i], i, r.purposes[i]));
  }
  if (r.subject_id.empty() || r.controller.name.empty() ||
      r.receipt_id.empty()) {
    return absl::InvalidArgumentError(
        "receipt: subject, controller.name and receipt_id must not be empty");
  }
  if (!absl::WebSafeBase64Unescape(signature, &r.signature)) {
    return absl::InvalidArgumentError("receipt: signature is not base64url");
  }
  if (!r.signature.empty() && r.signature.size() != kEd25519SignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: signature is ", r.signature.size(), " bytes, not 64"));
  }
  if (r.signature.empty() != r.key_id.empty()) {
    return absl::InvalidArgumentError(
        "receipt: key_id and signature must be both set or both empty");
  }
  return ParseTime(time, "time", false, r.time);
}

}  // namespace

// ---------------------------------------------------------------------------
// Serialising, parsing, signing, verifying.

std::string ReceiptSigningBytes(const ConsentReceipt& receipt) {
  return CanonicalJson(receipt, /*with_signature=*/false);
}

std::string SerializeReceipt(const ConsentReceipt& receipt) {
  return CanonicalJson(receipt, /*with_signature=*/true);
}

absl::StatusOr<ConsentReceipt> ParseReceipt(absl::string_view json) {
  if (json.empty()) return absl::InvalidArgumentError("receipt: empty input");
  if (json.size() > kMaxReceiptBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: ", json.size(), " bytes, more than ", kMaxReceiptBytes));
  }
  if (!IsValidUtf8(json)) {
    return absl::InvalidArgumentError("receipt: not valid UTF-8");
  }
  ASSIGN_OR_RETURN(JsonValue doc, JsonParser(json).ParseDocument());
  ConsentReceipt r;
  RETURN_IF_ERROR(ReadReceipt(doc, r));
  const std::string canonical = SerializeReceipt(r);
  if (canonical != json) {
    std::size_t at = 0;
    while (at < canonical.size() && at < json.size() &&
           canonical[at] == json[at]) {
      ++at;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt: byte ", at,
        ": not in canonical form (keys sorted, no whitespace, minimal "
        "escapes and times)"));
  }
  return r;
}

absl::Status SignReceipt(SigningKeyProvider& keys, ConsentReceipt& receipt) {
  ASSIGN_OR_RETURN(std::string key_id, keys.CurrentKeyId());
  receipt.key_id = std::move(key_id);
  receipt.signature.clear();
  ASSIGN_OR_RETURN(std::string sig,
                   keys.Sign(receipt.key_id, ReceiptSigningBytes(receipt)));
  if (sig.size() != kEd25519SignatureBytes) {
    receipt.key_id.clear();
    return absl::InternalError(absl::StrCat(
        "key provider returned a ", sig.size(), "-byte signature, not 64"));
  }
  receipt.signature = std::move(sig);
  return absl::OkStatus();
}

absl::StatusOr<ConsentReceipt> VerifyReceipt(absl::string_view json,
                                             PublicKeyLookup& keys) {
  ASSIGN_OR_RETURN(ConsentReceipt r, ParseReceipt(json));
  if (r.signature.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("receipt ", r.receipt_id, " is not signed"));
  }
  absl::Status verified =
      VerifyEd25519(keys, r.key_id, ReceiptSigningBytes(r), r.signature);
  if (absl::IsNotFound(verified)) {
    return absl::NotFoundError(absl::StrCat("receipt ", r.receipt_id,
                                            ": signing key '", r.key_id,
                                            "' is not known"));
  }
  if (!verified.ok()) {
    return absl::Status(
        verified.code(),
        absl::StrCat("receipt ", r.receipt_id, ": ", verified.message()));
  }
  return r;
}

// ---------------------------------------------------------------------------
// Building receipts from consent records.

namespace {

// "COLLECTION_METHOD_WEB_FORM" -> "web_form"; `fallback` for a value the
// enum does not name.
std::string EnumWord(const std::string& name, absl::string_view prefix,
                     absl::string_view fallback) {
  if (!absl::StartsWith(name, prefix) || name.size() == prefix.size()) {
    return std::string(fallback);
  }
  return absl::AsciiStrToLower(name.substr(prefix.size()));
}

// The categories `purpose` may use and on what basis; for a purpose that
// uses none itself (a parent), those of the purposes under it, each with
// the basis of the first that uses it.
std::vector<ReceiptCategory> CategoriesOf(const CompiledPolicy& policy,
                                          absl::string_view purpose) {
  std::vector<ReceiptCategory> out;
  absl::StatusOr<PurposeIndex> p = policy.FindPurpose(purpose);
  if (!p.ok()) return out;
  for (int c = 0; c < policy.category_count(); ++c) {
    const auto ci = static_cast<CategoryIndex>(c);
    Basis basis = policy.basis(ci, *p);
    for (int q = 0; q < policy.purpose_count() && basis == Basis::kNotAllowed;
         ++q) {
      const auto qi = static_cast<PurposeIndex>(q);
      if (qi != *p && policy.descendants(*p).Contains(qi)) {
        basis = policy.basis(ci, qi);
      }
    }
    if (basis == Basis::kNotAllowed) continue;
    out.push_back(
        {std::string(policy.category_id(ci)), std::string(BasisName(basis))});
  }
  return out;
}

ReceiptController ControllerFor(const CompiledPolicy& policy,
                                const ReceiptController& given) {
  ReceiptController c = given;
  const v1::Policy& doc = policy.proto();
  if (c.name.empty()) {
    c.name = doc.title().ja().empty() ? doc.title().en() : doc.title().ja();
  }
  if (c.contact.empty()) {
    c.contact = doc.contact_window().name();
    if (!doc.contact_window().phone().empty()) {
      absl::StrAppend(&c.contact, c.contact.empty() ? "" : " ",
                      doc.contact_window().phone());
    }
  }
  return c;
}

absl::StatusOr<ReceiptPurpose> PurposeEntry(
    const CompiledPolicy& policy,
    const absl::flat_hash_map<std::string, const v1::Purpose*>& names,
    const std::string& subject, const v1::PurposeConsent& pc) {
  ReceiptPurpose p;
  p.purpose = pc.purpose();
  if (auto it = names.find(pc.purpose()); it != names.end()) {
    p.name_ja = it->second->name().ja();
    p.name_en = it->second->name().en();
  }
  p.state = EnumWord(v1::ConsentState_Name(pc.state()), "CONSENT_STATE_", "");
  if (!OneOf(kStates, p.state)) {
    return absl::InvalidArgumentError(absl::StrCat("subject '", subject,
                                                   "': purpose '", pc.purpose(),
                                                   "' has no consent state"));
  }
  p.time = internal::FromProtoTime(pc.time());
  p.policy_version = pc.policy_version();
  p.notice_version = pc.notice_version();
  p.method = EnumWord(v1::CollectionMethod_Name(pc.method()),
                      "COLLECTION_METHOD_", "unspecified");
  p.occasion = pc.occasion_id();
  p.expiry = pc.has_expiry() ? internal::FromProtoTime(pc.expiry())
                             : absl::InfiniteFuture();
  p.evidence = pc.evidence_ref();
  p.categories = CategoriesOf(policy, pc.purpose());
  return p;
}

}  // namespace

absl::StatusOr<ConsentReceipt> BuildConsentReceipt(
    const CompiledPolicy& policy, const v1::ConsentRecord& record,
    const ReceiptOptions& options) {
  const std::string& subject = record.subject_id();
  if (subject.empty() || record.revision() <= 0) {
    return absl::InvalidArgumentError(
        "a receipt needs a record with a subject and a revision");
  }
  if (!record.data_loss().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject '", subject, "': the record could not be read (",
                     record.data_loss(), ")"));
  }
  ConsentReceipt r;
  r.controller = ControllerFor(policy, options.controller);
  if (r.controller.name.empty()) {
    return absl::InvalidArgumentError(
        "a receipt needs a controller name (options or the policy's title)");
  }
  r.subject_id = subject;
  r.revision = record.revision();
  r.time = internal::FromProtoTime(record.update_time());
  r.catalogue_version = policy.version();
  absl::flat_hash_map<std::string, const v1::Purpose*> names;
  for (const v1::Purpose& p : policy.proto().purposes()) names[p.id()] = &p;
  for (const v1::PurposeConsent& pc : record.purposes()) {
    if (!options.purposes.empty() &&
        std::find(options.purposes.begin(), options.purposes.end(),
                  pc.purpose()) == options.purposes.end()) {
      continue;
    }
    ASSIGN_OR_RETURN(ReceiptPurpose p,
                     PurposeEntry(policy, names, subject, pc));
    r.purposes.push_back(std::move(p));
  }
  if (r.purposes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject '", subject, "' has no consent entry for the receipt"));
  }
  std::sort(r.purposes.begin(), r.purposes.end(),
            [](const ReceiptPurpose& a, const ReceiptPurpose& b) {
              return std::tie(a.purpose, a.occasion) <
                     std::tie(b.purpose, b.occasion);
            });
  const std::string digest = Sha256(ReceiptSigningBytes(r));
  if (digest.size() < 16) return absl::InternalError("SHA-256 failed");
  r.receipt_id =
      absl::StrCat("rcpt-", absl::BytesToHexString(digest.substr(0, 16)));
  // What is built must read back: the same limits and forms as a reader.
  absl::StatusOr<ConsentReceipt> back = ParseReceipt(SerializeReceipt(r));
  if (!back.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject '", subject, "': ", back.status().message()));
  }
  return r;
}

absl::StatusOr<std::vector<ConsentReceipt>> ReceiptsForHistory(
    const CompiledPolicy& policy, const std::vector<v1::ConsentRecord>& history,
    const ReceiptOptions& options) {
  std::vector<ConsentReceipt> out;
  std::map<std::pair<std::string, std::string>, std::string> before;
  for (const v1::ConsentRecord& version : history) {
    v1::ConsentRecord changed = version;
    changed.clear_purposes();
    for (const v1::PurposeConsent& pc : version.purposes()) {
      std::string& seen = before[{pc.purpose(), pc.occasion_id()}];
      std::string now = pc.SerializeAsString();
      if (seen == now) continue;
      seen = std::move(now);
      if (!options.purposes.empty() &&
          std::find(options.purposes.begin(), options.purposes.end(),
                    pc.purpose()) == options.purposes.end()) {
        continue;
      }
      *changed.add_purposes() = pc;
    }
    if (changed.purposes().empty()) continue;
    ASSIGN_OR_RETURN(ConsentReceipt r,
                     BuildConsentReceipt(policy, changed, options));
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Readable text.

namespace {

struct ReceiptLang {
  bool ja;
  const char* T(const char* ja_text, const char* en_text) const {
    return ja ? ja_text : en_text;
  }
};

// Times are shown in Japan Standard Time, as in the disclosure package.
std::string ShownTime(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "-";
  static const absl::TimeZone kJst = absl::FixedTimeZone(9 * 60 * 60);
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Ez", t, kJst);
}

std::string TableCell(absl::string_view s) {
  if (s.empty()) return "-";
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}, {"\r", " "}});
}

std::string StateWord(const ReceiptLang& l, absl::string_view s) {
  if (s == "given") return l.T("同意", "given");
  if (s == "refused") return l.T("拒否", "refused");
  if (s == "withdrawn") return l.T("撤回", "withdrawn");
  if (s == "expired") return l.T("期限切れ", "expired");
  return std::string(s);
}

std::string MethodWord(const ReceiptLang& l, absl::string_view m) {
  static const std::pair<absl::string_view, const char*> kJa[] = {
      {"web_form", "ウェブフォーム"}, {"mobile_app", "モバイルアプリ"},
      {"paper_form", "書面"},         {"phone", "電話"},
      {"email", "電子メール"},        {"in_person", "対面"},
      {"imported", "移行データ"},     {"unspecified", "不明"}};
  static const std::pair<absl::string_view, const char*> kEn[] = {
      {"web_form", "web form"},     {"mobile_app", "mobile app"},
      {"paper_form", "paper form"}, {"phone", "phone"},
      {"email", "email"},           {"in_person", "in person"},
      {"imported", "imported"},     {"unspecified", "not recorded"}};
  for (const auto& [word, text] : (l.ja ? kJa : kEn)) {
    if (word == m) return text;
  }
  return std::string(m);
}

std::string BasisWordText(const ReceiptLang& l, absl::string_view b) {
  if (b == "necessary") return l.T("サービス提供に必要", "necessary");
  if (b == "opt_in") return l.T("同意による", "consent (opt-in)");
  if (b == "opt_out") return l.T("停止の求めがない限り", "unless refused");
  return std::string(b);
}

}  // namespace

std::string RenderReceipt(const ConsentReceipt& r, absl::string_view language) {
  const ReceiptLang l{language == "ja"};
  std::string out;
  absl::StrAppend(&out, l.T("# 同意の受領書\n\n", "# Consent receipt\n\n"));
  absl::StrAppend(&out, l.T("- 受領書番号: ", "- Receipt: "), r.receipt_id,
                  "\n", l.T("- 事業者: ", "- Controller: "), r.controller.name,
                  r.controller.contact.empty() ? "" : " (",
                  r.controller.contact, r.controller.contact.empty() ? "" : ")",
                  "\n", l.T("- ご本人: ", "- Subject: "), r.subject_id, "\n",
                  l.T("- 記録日時: ", "- Recorded: "), ShownTime(r.time), "\n",
                  l.T("- 記録の改訂番号: ", "- Record revision: "), r.revision,
                  "\n",
                  l.T("- 目録の方針の版: ", "- Catalogue policy version: "),
                  r.catalogue_version, "\n\n");
  absl::StrAppend(
      &out,
      l.T("| 利用目的 | 状態 | 日時 | 方針の版 | 通知の版 | 方法 | 機会 | "
          "期限 | 情報の種類（根拠） |\n",
          "| Purpose | State | When | Policy version | Notice version | "
          "Method | Occasion | Expires | Data (basis) |\n"),
      "|---|---|---|---|---|---|---|---|---|\n");
  for (const ReceiptPurpose& p : r.purposes) {
    std::vector<std::string> cats;
    for (const ReceiptCategory& c : p.categories) {
      cats.push_back(
          absl::StrCat(c.category, " (", BasisWordText(l, c.basis), ")"));
    }
    const std::string& name = l.ja
                                  ? (p.name_ja.empty() ? p.name_en : p.name_ja)
                                  : (p.name_en.empty() ? p.name_ja : p.name_en);
    absl::StrAppend(
        &out, "| ",
        TableCell(name.empty() ? p.purpose
                               : absl::StrCat(name, " (", p.purpose, ")")),
        " | ", StateWord(l, p.state), " | ", ShownTime(p.time), " | ",
        TableCell(p.policy_version), " | ", TableCell(p.notice_version), " | ",
        MethodWord(l, p.method), " | ", TableCell(p.occasion), " | ",
        ShownTime(p.expiry), " | ", TableCell(absl::StrJoin(cats, "; ")),
        " |\n");
  }
  absl::StrAppend(&out, "\n");
  if (r.signature.empty()) {
    absl::StrAppend(&out, l.T("署名: なし（この受領書は署名されていません）\n",
                              "Signature: none (this receipt is unsigned)\n"));
  } else {
    absl::StrAppend(&out, l.T("署名: Ed25519、鍵 ", "Signature: Ed25519, key "),
                    r.key_id, "\n");
  }
  return out;
}

}  // namespace consentry
