// The revocation set: which identities and tokens are refused before they
// expire (docs/security-model.md, "Revocation"), as a fixed-capacity hash
// table over caller-supplied memory, so the PostgreSQL glue can keep it in
// shared memory (no pointers inside) and every login checks it in O(1).
//
// Entries are keyed by the first 16 bytes of a SHA-256 over the normalized
// key: identities compare case-insensitively (as logins do), token keys
// exactly.  Linear probing with backward-shift deletion: no tombstones, so
// lookups stay short however many entries come and go.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// Who blocked an identity, as bits: both may block the same identity, and
// the identity sync lifts only its own block.
enum RevocationSource : uint8_t { kRevocationByAdmin = 1, kRevocationByGroupSync = 2 };
std::optional<uint8_t> parse_revocation_source(std::string_view name);  // "admin", "group_sync"

// What a check found; names are log words.
enum class RevocationMatch { none, identity_cutoff, identity_blocked, token };
const char* revocation_match_name(RevocationMatch match);

// "jti:<jti>" when the token has a jti (a long or unprintable jti is
// replaced by "jti-sha256:<its digest>"), else "sha256:<token digest>".
// Never longer than 200 bytes.
std::string revocation_token_key(const std::string& jti, std::string_view token_sha256_hex);

// Plain data, laid out in the caller's memory.
struct RevocationSlot {
  uint64_t key_hi = 0, key_lo = 0;  // digest prefix; kind 0 = empty slot
  int64_t cutoff_us = 0;            // identity: tokens with iat earlier are revoked (0 = none)
  int64_t expires_at = 0;           // token: unix seconds after which it may be forgotten
  uint8_t kind = 0;                 // 0 empty, 1 identity, 2 token
  uint8_t block_sources = 0;        // identity: RevocationSource bits
};

struct RevocationHeader {
  uint32_t slot_count;  // a power of two
  uint32_t capacity;    // entries allowed (below slot_count: probes stay short)
  uint32_t used;
  uint32_t overflowed;  // an entry was refused for lack of room since the last clear
};

class RevocationSet {
 public:
  // Bytes of memory a set of this capacity needs.
  static std::size_t bytes_for(uint32_t capacity);
  // Lays out an empty set in memory (bytes_for(capacity), 8-byte aligned).
  static void init(void* memory, uint32_t capacity);
  explicit RevocationSet(void* memory) : header_(static_cast<RevocationHeader*>(memory)) {}

  void clear();
  // Each returns false when there was no room (the set then counts as overflowed).
  // cutoff_us: microseconds since 1970; an identity keeps the latest cutoff.
  bool add_cutoff(std::string_view identity, int64_t cutoff_us);
  bool add_block(std::string_view identity, uint8_t sources);
  bool add_token(std::string_view token_key, int64_t expires_at);
  // Lifts blocks of these sources; true when a block bit was cleared.
  bool remove_block(std::string_view identity, uint8_t sources);
  // Forgets token entries whose token has expired; returns how many.
  uint32_t purge_tokens(int64_t now);

  // issued_at in unix seconds; a token without iat counts as issued before
  // any cutoff.  token_key may be empty.
  RevocationMatch check(std::string_view identity, std::optional<int64_t> issued_at,
                        std::string_view token_key) const;

  uint32_t size() const { return header_->used; }
  uint32_t capacity() const { return header_->capacity; }
  bool overflowed() const { return header_->overflowed != 0; }

 private:
  RevocationSlot* slots() const;
  const RevocationSlot* find(uint8_t kind, std::string_view key) const;
  RevocationSlot* find_or_insert(uint8_t kind, std::string_view key);
  void erase(RevocationSlot* slot);

  RevocationHeader* header_;
};

}  // namespace dbx_oauth::core
