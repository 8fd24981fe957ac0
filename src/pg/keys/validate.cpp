/*
 * validate.cpp — backend-side glue around core::validate_token.
 *
 * Keeps three backend-local things in sync with their sources:
 *   - the parsed settings (rebuilt when dbx_oauth_settings_generation moves),
 *   - the parsed keys per issuer (rebuilt when key_store_version() moves),
 *   - the validated-token cache (invalidated when either of the above moves).
 * The hot path for a cached token is two counter compares and a hash lookup.
 *
 * A token this backend has not seen is looked up next in the cache shared
 * by all backends (shared_token_cache.h) and only then validated, so a
 * login with a token some backend validated before never imports keys or
 * touches OpenSSL's signature code.  In a freshly forked backend that code
 * is what costs: each page of it is a page fault
 * (docs/architecture.md#keys-only-the-worker-touches-the-network).
 */
#include "core/setting_list.h"
#include "core/sha256.h"
#include "core/token_cache.h"
#include "core/token_record.h"
#include "core/validator.h"

#include <array>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>

#include "pg/keys/validate.h"
#include "pg/common/boundary.h"
#include "pg/common/guc.h"
#include "pg/keys/key_store.h"
#include "pg/keys/shared_token_cache.h"

namespace dbx_oauth::pg {

namespace {

std::vector<std::string> split_list(const char *value) {
    return value == nullptr ? std::vector<std::string>{} : core::split_setting_list(value);
}

struct BackendState {
    uint64 settings_generation = 0;
    core::ValidationSettings settings;
    /* what the shared cache's entries must have been validated under */
    std::array<unsigned char, 32> settings_digest{};
    uint64 keys_version = 0;
    std::map<std::string, core::Jwks> issuer_keys; /* issuer -> parsed keys (file keys merged) */
    std::unique_ptr<core::TokenCache> cache;
    size_t cache_capacity = 0;
};

BackendState &state() {
    static BackendState s;
    return s;
}

/* SHA-256 of every setting the validator reads, each field length-prefixed. */
std::array<unsigned char, 32> settings_digest(const core::ValidationSettings &v) {
    std::string text;
    for (const std::vector<std::string> *list : {&v.issuers, &v.audiences, &v.accepted_scopes, &v.allowed_algorithms}) {
        text += std::to_string(list->size()) + ":";
        for (const std::string &item : *list)
            text += std::to_string(item.size()) + ":" + item;
    }
    text += std::to_string(v.clock_skew_seconds) + ":" + std::to_string(v.max_token_lifetime_seconds);
    return core::sha256(text);
}

void refresh_settings(BackendState &s) {
    if (s.settings_generation == dbx_oauth_settings_generation)
        return;
    core::ValidationSettings v;
    v.issuers = split_list(dbx_oauth_issuers);
    v.audiences = split_list(dbx_oauth_audience);
    v.accepted_scopes = split_list(dbx_oauth_accepted_scopes);
    v.allowed_algorithms = split_list(dbx_oauth_allowed_algorithms);
    v.clock_skew_seconds = dbx_oauth_clock_skew;
    v.max_token_lifetime_seconds = dbx_oauth_max_token_lifetime;
    s.settings_digest = settings_digest(v);
    s.settings = std::move(v);
    s.settings_generation = dbx_oauth_settings_generation;
    s.keys_version = 0; /* the issuer list may have changed: re-merge keys */
}

/*
 * Adds keys whose kid is not in the set yet: the same key published by the
 * issuer and listed in jwks_file must count once, or a token without kid
 * would look ambiguous.  The first source (the issuer's) wins.
 */
void append_keys(core::Jwks &into, const core::Jwks &from) {
    for (const core::Jwk &key : from.keys) {
        bool seen = false;
        for (const core::Jwk &have : into.keys)
            seen = seen || (!key.kid.empty() && have.kid == key.kid);
        if (!seen)
            into.keys.push_back(key);
    }
}

void refresh_keys(BackendState &s) {
    uint64 current = key_store_version();
    if (s.keys_version == current && current != 0)
        return;
    uint64 version = 0;
    std::vector<IssuerKeys> slots = key_store_copy(&version);

    core::Jwks file_keys;
    std::map<std::string, core::Jwks> fetched;
    for (const IssuerKeys &slot : slots) {
        /* published by the worker or the jwks_file loader after a full check */
        core::JwksParseResult parsed = core::parse_jwks(slot.jwks_json, core::KeyCheck::trusted_source);
        if (!parsed.ok)
            continue; /* a bad slot simply contributes nothing */
        if (slot.issuer == KEY_STORE_FILE_SLOT)
            file_keys = std::move(parsed.jwks);
        else
            fetched[slot.issuer] = std::move(parsed.jwks);
    }

    std::map<std::string, core::Jwks> merged;
    for (const std::string &issuer : s.settings.issuers) {
        core::Jwks keys;
        auto it = fetched.find(issuer);
        if (it != fetched.end())
            append_keys(keys, it->second);
        append_keys(keys, file_keys);
        if (!keys.keys.empty())
            merged[issuer] = std::move(keys);
    }
    s.issuer_keys = std::move(merged);
    s.keys_version = version;
}

/* Cache generation: any change of settings or keys invalidates entries. */
uint64_t cache_generation(const BackendState &s, uint64 keys_version) {
    return (s.settings_generation << 32) ^ keys_version;
}

/*
 * A result another backend validated under the same settings and the key
 * version the store has now (an exact match: any key change bumps it).
 */
bool shared_lookup(const BackendState &s, const std::array<unsigned char, 32> &digest, uint64 keys_version,
                   int64_t now, core::VerifiedToken *out) {
    std::string record;
    return shared_token_cache_find(digest.data(), s.settings_digest.data(), keys_version, now, &record) &&
           core::decode_verified_token(record, *out);
}

core::TokenCache *cache(BackendState &s) {
    size_t capacity = static_cast<size_t>(dbx_oauth_token_cache_size);
    if (capacity == 0) {
        s.cache.reset();
        s.cache_capacity = 0;
        return nullptr;
    }
    if (!s.cache || s.cache_capacity != capacity) {
        s.cache = std::make_unique<core::TokenCache>(capacity);
        s.cache_capacity = capacity;
    }
    return s.cache.get();
}

core::ValidationResult validate_uncached(BackendState &s, std::string_view token,
                                         const core::TokenDigest &digest, int64_t now) {
    core::KeyLookup lookup = [&s](const std::string &issuer) -> const core::Jwks * {
        auto it = s.issuer_keys.find(issuer);
        return it == s.issuer_keys.end() ? nullptr : &it->second;
    };
    return core::validate_token(token, s.settings, lookup, now, digest);
}

}  // namespace

/*
 * Everything below runs once in the postmaster, so that each forked
 * backend inherits its results instead of paying for them during the
 * login (docs/architecture.md#keys-only-the-worker-touches-the-network):
 * the parsed settings and their digest, the local cache's table, the
 * SHA-256 method OpenSSL fetches on first use, and the lazy symbol binding
 * of the C++ runtime's own calls (one unordered_map insert resolves a
 * libstdc++ -> libm call by searching every loaded library: ~30 page
 * faults in a fresh backend).  Nothing of a token is prepared here; the
 * dummy entry is cleared again.
 */
void validation_prepare_for_backends() {
    BackendState &s = state();
    refresh_settings(s);
    core::VerifiedToken dummy;
    dummy.identity = "prepare";
    dummy.expires_at = 1;
    dummy.scopes = {"prepare"};
    std::string record = core::encode_verified_token(dummy);
    core::VerifiedToken decoded;
    (void) core::decode_verified_token(record, decoded);
    (void) core::token_fingerprint(record);
    if (core::TokenCache *tc = cache(s)) {
        tc->insert(record, decoded, 0);
        (void) tc->find(record, 0, 0);
        tc->clear();
    }
}

void validation_prepare_in_postmaster() {
    PgError err;
    /* only an optimisation: a failure leaves each backend to do it itself */
    if (!cpp_call(&err, [] { validation_prepare_for_backends(); }))
        ereport(LOG, (errmsg("dbx_oauth: could not prepare token validation for new backends: %s",
                             err.message)));
}

BackendValidation validate_token_in_backend(std::string_view token, bool allow_refresh_wait, bool keep_local) {
    BackendState &s = state();
    refresh_settings(s);
    const int64_t now = static_cast<int64_t>(time(nullptr));
    /* entries validated with older keys must miss: compare with the store's version, not our copy's */
    const uint64 store_version = key_store_version();

    BackendValidation out;
    core::TokenCache *tc = cache(s);
    if (tc != nullptr) {
        if (const core::VerifiedToken *hit = tc->find(token, cache_generation(s, store_version), now)) {
            out.result.reason = core::recheck_time(*hit, s.settings, now);
            out.result.token = *hit;
            out.from_cache = true;
            return out;
        }
    }

    /* token_cache_size = 0 turns caching off altogether, the shared cache included */
    const bool share = tc != nullptr;
    /* hashed once, after a local miss (the local cache compares the token
     * itself): the shared cache and the validator both key on it */
    const core::TokenDigest digest = core::sha256(token);
    if (share && shared_lookup(s, digest, store_version, now, &out.result.token)) {
        out.result.reason = core::recheck_time(out.result.token, s.settings, now);
        out.from_cache = true;
        if (out.result.ok() && tc != nullptr && keep_local)
            tc->insert(token, out.result.token, cache_generation(s, store_version));
        return out;
    }

    refresh_keys(s);
    out.result = validate_uncached(s, token, digest, now);
    bool unknown_key = out.result.reason == core::Reason::unknown_kid ||
                       out.result.reason == core::Reason::no_keys;
    if (unknown_key && allow_refresh_wait && dbx_oauth_unknown_kid_wait > 0 &&
        key_store_request_refresh_and_wait(dbx_oauth_unknown_kid_wait)) {
        refresh_keys(s);
        out.result = validate_uncached(s, token, digest, static_cast<int64_t>(time(nullptr)));
    }

    if (out.result.ok()) {
        /* tagged with the version of the keys it was verified with */
        if (tc != nullptr && keep_local)
            tc->insert(token, out.result.token, cache_generation(s, s.keys_version));
        if (share && s.keys_version != 0)
            shared_token_cache_put(digest.data(), s.settings_digest.data(), s.keys_version,
                                   out.result.token.expires_at, core::encode_verified_token(out.result.token));
    }
    return out;
}

}  // namespace dbx_oauth::pg
