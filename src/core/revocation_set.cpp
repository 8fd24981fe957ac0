// The revocation set (src/core/revocation_set.h).
#include "core/revocation_set.h"

#include <climits>
#include <cstring>
#include <new>

#include "core/sha256.h"

namespace dbx_oauth::core {

namespace {

constexpr uint8_t kEmpty = 0, kIdentity = 1, kToken = 2;
constexpr std::size_t kMaxJtiInKey = 180;

struct Digest {
  uint64_t hi, lo;
};

// Identities compare like logins do (ASCII case-insensitive); token keys exactly.
Digest digest_of(uint8_t kind, std::string_view key) {
  std::string normalized;
  normalized.reserve(key.size() + 2);
  normalized.push_back(static_cast<char>('0' + kind));
  normalized.push_back(':');
  for (char c : key)
    normalized.push_back(kind == kIdentity && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  const auto raw = sha256(normalized);
  Digest d{0, 0};
  for (int i = 0; i < 8; i++) {
    d.hi = (d.hi << 8) | raw[i];
    d.lo = (d.lo << 8) | raw[8 + i];
  }
  return d;
}

uint32_t round_up_pow2(uint64_t n) {
  uint64_t p = 16;
  while (p < n) p <<= 1;
  return static_cast<uint32_t>(p);
}

std::size_t header_bytes() { return (sizeof(RevocationHeader) + 7) & ~std::size_t{7}; }

}  // namespace

std::optional<uint8_t> parse_revocation_source(std::string_view name) {
  if (name == "admin") return kRevocationByAdmin;
  if (name == "group_sync") return kRevocationByGroupSync;
  return std::nullopt;
}

const char* revocation_match_name(RevocationMatch match) {
  switch (match) {
    case RevocationMatch::none: return "none";
    case RevocationMatch::identity_cutoff: return "identity_cutoff";
    case RevocationMatch::identity_blocked: return "identity_blocked";
    case RevocationMatch::token: return "token";
  }
  return "none";
}

std::string revocation_token_key(const std::string& jti, std::string_view token_sha256_hex) {
  if (jti.empty()) return "sha256:" + std::string(token_sha256_hex);
  bool printable = jti.size() <= kMaxJtiInKey;
  for (unsigned char c : jti) printable = printable && c >= 0x20 && c < 0x7f;
  return printable ? "jti:" + jti : "jti-sha256:" + sha256_hex(jti);
}

std::size_t RevocationSet::bytes_for(uint32_t capacity) {
  // Slots = capacity + 1/4, rounded up to a power of two: at most ~80% full.
  return header_bytes() + sizeof(RevocationSlot) * round_up_pow2(uint64_t{capacity} + capacity / 4 + 1);
}

void RevocationSet::init(void* memory, uint32_t capacity) {
  auto* header = new (memory) RevocationHeader{};
  header->slot_count = round_up_pow2(uint64_t{capacity} + capacity / 4 + 1);
  header->capacity = capacity;
  RevocationSet(memory).clear();
}

RevocationSlot* RevocationSet::slots() const {
  return reinterpret_cast<RevocationSlot*>(reinterpret_cast<char*>(header_) + header_bytes());
}

void RevocationSet::clear() {
  RevocationSlot* s = slots();
  for (uint32_t i = 0; i < header_->slot_count; i++) new (&s[i]) RevocationSlot{};
  header_->used = 0;
  header_->overflowed = 0;
}

const RevocationSlot* RevocationSet::find(uint8_t kind, std::string_view key) const {
  const Digest d = digest_of(kind, key);
  const uint32_t mask = header_->slot_count - 1;
  const RevocationSlot* s = slots();
  for (uint32_t i = static_cast<uint32_t>(d.hi) & mask;; i = (i + 1) & mask) {
    if (s[i].kind == kEmpty) return nullptr;
    if (s[i].kind == kind && s[i].key_hi == d.hi && s[i].key_lo == d.lo) return &s[i];
  }
}

RevocationSlot* RevocationSet::find_or_insert(uint8_t kind, std::string_view key) {
  const Digest d = digest_of(kind, key);
  const uint32_t mask = header_->slot_count - 1;
  RevocationSlot* s = slots();
  uint32_t i = static_cast<uint32_t>(d.hi) & mask;
  for (;; i = (i + 1) & mask) {
    if (s[i].kind == kEmpty) break;
    if (s[i].kind == kind && s[i].key_hi == d.hi && s[i].key_lo == d.lo) return &s[i];
  }
  if (header_->used >= header_->capacity) {
    header_->overflowed = 1;
    return nullptr;
  }
  s[i] = RevocationSlot{};
  s[i].key_hi = d.hi;
  s[i].key_lo = d.lo;
  s[i].kind = kind;
  header_->used++;
  return &s[i];
}

// Backward-shift deletion: entries after the hole move up if their home
// slot allows, so no probe chain is ever cut.
void RevocationSet::erase(RevocationSlot* slot) {
  const uint32_t mask = header_->slot_count - 1;
  RevocationSlot* s = slots();
  uint32_t hole = static_cast<uint32_t>(slot - s);
  for (uint32_t j = (hole + 1) & mask; s[j].kind != kEmpty; j = (j + 1) & mask) {
    const uint32_t home = static_cast<uint32_t>(s[j].key_hi) & mask;
    // s[j] may fill the hole unless its home lies cyclically in (hole, j].
    const bool home_after_hole = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (home_after_hole) continue;
    s[hole] = s[j];
    hole = j;
  }
  s[hole] = RevocationSlot{};
  header_->used--;
}

bool RevocationSet::add_cutoff(std::string_view identity, int64_t cutoff_us) {
  RevocationSlot* slot = find_or_insert(kIdentity, identity);
  if (slot == nullptr) return false;
  if (cutoff_us > slot->cutoff_us) slot->cutoff_us = cutoff_us;
  return true;
}

bool RevocationSet::add_block(std::string_view identity, uint8_t sources) {
  RevocationSlot* slot = find_or_insert(kIdentity, identity);
  if (slot == nullptr) return false;
  slot->block_sources |= sources;
  return true;
}

bool RevocationSet::add_token(std::string_view token_key, int64_t expires_at) {
  RevocationSlot* slot = find_or_insert(kToken, token_key);
  if (slot == nullptr) return false;
  if (expires_at > slot->expires_at) slot->expires_at = expires_at;
  return true;
}

bool RevocationSet::remove_block(std::string_view identity, uint8_t sources) {
  auto* slot = const_cast<RevocationSlot*>(find(kIdentity, identity));
  if (slot == nullptr || (slot->block_sources & sources) == 0) return false;
  slot->block_sources &= static_cast<uint8_t>(~sources);
  if (slot->block_sources == 0 && slot->cutoff_us == 0) erase(slot);
  return true;
}

uint32_t RevocationSet::purge_tokens(int64_t now) {
  uint32_t purged = 0;
  RevocationSlot* s = slots();
  // erase() may move a later entry into slot i: look at i again then.
  for (uint32_t i = 0; i < header_->slot_count;) {
    if (s[i].kind == kToken && s[i].expires_at < now) {
      erase(&s[i]);
      purged++;
    } else {
      i++;
    }
  }
  return purged;
}

RevocationMatch RevocationSet::check(std::string_view identity, std::optional<int64_t> issued_at,
                                     std::string_view token_key) const {
  if (header_->used == 0) return RevocationMatch::none;
  if (const RevocationSlot* id = find(kIdentity, identity)) {
    if (id->block_sources != 0) return RevocationMatch::identity_blocked;
    // iat has whole seconds: a token of the cutoff's own second counts as
    // earlier unless the cutoff falls exactly on it.
    constexpr int64_t kMaxIat = INT64_MAX / 1000000;
    if (id->cutoff_us != 0 &&
        (!issued_at || (*issued_at < kMaxIat && *issued_at * 1000000 < id->cutoff_us)))
      return RevocationMatch::identity_cutoff;
  }
  if (!token_key.empty() && find(kToken, token_key) != nullptr) return RevocationMatch::token;
  return RevocationMatch::none;
}

}  // namespace dbx_oauth::core
