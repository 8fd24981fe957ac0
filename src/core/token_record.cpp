// VerifiedToken <-> bytes (see token_record.h).
//
// Layout (little endian): magic "VT1", identity type (1 byte), flags
// (1 byte: bit 0 iat, bit 1 nbf), exp, iat, nbf (8 bytes each), then the
// strings identity, issuer, kid, alg, fingerprint, revocation_key,
// claims_json (each a 4-byte length and the bytes), then the scope count
// (4 bytes) and each scope as a string.
#include "core/token_record.h"

#include <cstdint>
#include <cstring>

namespace dbx_oauth::core {

namespace {

constexpr char kMagic[3] = {'V', 'T', '1'};
constexpr unsigned kHasIat = 1, kHasNbf = 2;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool u8(unsigned& v) {
    if (rest_.empty()) return false;
    v = static_cast<unsigned char>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool u32(uint32_t& v) {
    if (rest_.size() < 4) return false;
    v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(4);
    return true;
  }
  bool u64(uint64_t& v) {
    if (rest_.size() < 8) return false;
    v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(8);
    return true;
  }
  bool string(std::string& s) {
    uint32_t length = 0;
    if (!u32(length) || rest_.size() < length) return false;
    s.assign(rest_.data(), length);
    rest_.remove_prefix(length);
    return true;
  }
  bool magic() {
    if (rest_.size() < sizeof kMagic || std::memcmp(rest_.data(), kMagic, sizeof kMagic) != 0) return false;
    rest_.remove_prefix(sizeof kMagic);
    return true;
  }
  bool done() const { return rest_.empty(); }
  std::size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

}  // namespace

std::string encode_verified_token(const VerifiedToken& token) {
  std::string out;
  out.reserve(64 + token.identity.size() + token.issuer.size() + token.kid.size() + token.alg.size() +
              token.fingerprint.size() + token.revocation_key.size() + token.claims_json.size() +
              8 * token.scopes.size());
  out.append(kMagic, sizeof kMagic);
  out.push_back(static_cast<char>(token.identity_type));
  out.push_back(static_cast<char>((token.issued_at ? kHasIat : 0) | (token.not_before ? kHasNbf : 0)));
  put_u64(out, static_cast<uint64_t>(token.expires_at));
  put_u64(out, static_cast<uint64_t>(token.issued_at.value_or(0)));
  put_u64(out, static_cast<uint64_t>(token.not_before.value_or(0)));
  for (const std::string* s : {&token.identity, &token.issuer, &token.kid, &token.alg, &token.fingerprint,
                               &token.revocation_key, &token.claims_json}) {
    put_string(out, *s);
  }
  put_u32(out, static_cast<uint32_t>(token.scopes.size()));
  for (const std::string& scope : token.scopes) put_string(out, scope);
  return out;
}

bool decode_verified_token(std::string_view bytes, VerifiedToken& out) {
  Reader in(bytes);
  VerifiedToken token;
  unsigned type = 0, flags = 0;
  uint64_t exp = 0, iat = 0, nbf = 0;
  if (!in.magic() || !in.u8(type) || !in.u8(flags) || !in.u64(exp) || !in.u64(iat) || !in.u64(nbf))
    return false;
  if (type > static_cast<unsigned>(IdentityType::group) || (flags & ~(kHasIat | kHasNbf)) != 0) return false;
  token.identity_type = static_cast<IdentityType>(type);
  token.expires_at = static_cast<int64_t>(exp);
  if (flags & kHasIat) token.issued_at = static_cast<int64_t>(iat);
  else if (iat != 0) return false;
  if (flags & kHasNbf) token.not_before = static_cast<int64_t>(nbf);
  else if (nbf != 0) return false;
  for (std::string* s : {&token.identity, &token.issuer, &token.kid, &token.alg, &token.fingerprint,
                         &token.revocation_key, &token.claims_json}) {
    if (!in.string(*s)) return false;
  }
  uint32_t count = 0;
  // Every scope takes at least its 4-byte length: a count the remaining
  // bytes cannot hold is refused before anything is reserved for it.
  if (!in.u32(count) || count > in.left() / 4) return false;
  token.scopes.resize(count);
  for (std::string& scope : token.scopes) {
    if (!in.string(scope)) return false;
  }
  if (!in.done()) return false;
  out = std::move(token);
  return true;
}

}  // namespace dbx_oauth::core
