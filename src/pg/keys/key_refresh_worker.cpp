/*
 * key_refresh_worker.cpp — the key-refresh background worker (see
 * key_refresh_worker.h).
 *
 * Shape: the workers' shared main loop (signals, WaitLatch, config reload;
 * common/bgworkers.h) calls one C++ step per wake-up through cpp_call, so no C++ object is
 * alive when PostgreSQL might longjmp, and no bad input can crash the
 * worker: an exception becomes a WARNING and a retry.
 *
 * Scheduling, per issuer: fetch at start, then every jwks_refresh_interval;
 * after a failure, exponential backoff with jitter (never later than the
 * regular interval), keeping the last good keys.  Refreshes asked for by
 * backends that met an unknown kid run at most once per
 * kKidRefreshMinIntervalMs; a request inside that window is answered at
 * once ("nothing new") and remembered, so one refresh runs when the window
 * ends.  refresh_keys() is not rate-limited (it is superuser-only).
 */
#include "core/backoff.h"
#include "core/http_client.h"
#include "pg/keys/worker_http.h"
#include "core/jwks_file.h"
#include "core/key_fetch.h"
#include "core/setting_list.h"
#include "pg/keys/persist.h" /* includes core headers: before postgres.h */

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pg/common/boundary.h"
#include "pg/common/guc.h"
#include "pg/keys/key_store.h"
#include "pg/keys/key_refresh_worker.h"
#include "pg/common/bgworkers.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace {

using namespace dbx_oauth;

/* Unknown-kid refreshes: at most one per this interval. */
constexpr long kKidRefreshMinIntervalMs = 10000;
/* First retry after a failure; doubles up to the refresh interval (max 5 min). */
constexpr int64_t kBackoffBaseMs = 2000;
constexpr int64_t kBackoffMaxMs = 300000;
/* Response bodies (discovery, JWKS) larger than this are refused. */
constexpr size_t kMaxResponseBytes = 1024 * 1024;
/* Sleep after an unexpected exception in a step. */
constexpr long kErrorSleepMs = 5000;
constexpr const char *kWorkerName = "dbx_oauth worker"; /* prefix of its WARNINGs */

struct IssuerState {
    std::string issuer;
    bool refused = false;        /* the issuer URL itself fails the policy */
    TimestampTz next_due = 0;
    int failures = 0;
    std::string published_json;  /* what this worker last published */
    std::string persisted_json;  /* what is on disk, to skip identical writes */
    KeyStoreStatus status{};
};

struct WorkerState {
    std::vector<IssuerState> issuers;
    int refresh_interval_s = 0;
    TimestampTz last_kid_refresh = 0;
    bool kid_pending = false;
    std::string file_json;       /* jwks_file content last published */
    std::mt19937_64 rng;
};

WorkerState &state() {
    static WorkerState s;
    return s;
}

/* ---- small helpers ----------------------------------------------------- */

void log_msg(int elevel, const std::string &msg, const std::string &detail = {}) {
    pg::pg_call([&] {
        ereport(elevel, (errmsg("%s", msg.c_str()),
                         detail.empty() ? 0 : errdetail("%s", detail.c_str())));
    });
}

void copy_text(char *dst, size_t cap, const std::string &src) {
    strlcpy(dst, src.c_str(), cap);
}

std::vector<std::string> split_list(const char *value) {
    return value == nullptr ? std::vector<std::string>{} : core::split_setting_list(value);
}

TimestampTz plus_ms(TimestampTz t, int64_t ms) {
    return t + ms * 1000;
}

int64_t refresh_interval_ms() {
    return static_cast<int64_t>(dbx_oauth_jwks_refresh_interval) * 1000;
}

core::HttpOptions http_options() {
    return worker_http_options(kMaxResponseBytes);
}

std::string describe_skipped(const std::vector<core::SkippedKey> &skipped) {
    std::string out;
    for (const core::SkippedKey &k : skipped) {
        if (!out.empty())
            out += "; ";
        out += "kid \"" + k.kid + "\": " + k.why;
    }
    return out;
}

/* ---- persisted keys ---------------------------------------------------- */

void persist(IssuerState &is, const std::string &json, TimestampTz fetched_at) {
    if (json == is.persisted_json)
        return;
    std::string error;
    if (pg::persist_keys_save(DataDir, is.issuer, json, timestamptz_to_time_t(fetched_at), &error)) {
        is.persisted_json = json;
        return;
    }
    log_msg(WARNING, "dbx_oauth: could not persist keys of issuer \"" + is.issuer + "\"", error);
    copy_text(is.status.last_error, sizeof is.status.last_error, "keys not persisted: " + error);
}

/* Loads the persisted keys of a newly configured issuer, unless the store
 * already holds keys for it (a worker restart without a server restart). */
void load_persisted(IssuerState &is, const std::vector<IssuerKeys> &current) {
    for (const IssuerKeys &k : current) {
        if (k.issuer == is.issuer) {
            is.published_json = k.jwks_json;
            return;
        }
    }
    core::PersistedKeys p = pg::persist_keys_load(DataDir, is.issuer, KEY_STORE_MAX_JWKS_BYTES);
    if (!p.ok) {
        if (!p.error.empty())
            log_msg(WARNING, "dbx_oauth: ignoring persisted keys of issuer \"" + is.issuer + "\"",
                    p.error);
        return;
    }
    const std::string &json = p.jwks.compact_json;
    if (key_store_publish_at(is.issuer.c_str(), KEY_SOURCE_PERSISTED, json.data(), json.size(),
                             p.jwks.key_count, time_t_to_timestamptz(p.fetched_at_unix))) {
        is.published_json = json;
        is.persisted_json = json;
        log_msg(LOG, "dbx_oauth: loaded " + std::to_string(p.jwks.key_count) +
                         " persisted keys of issuer \"" + is.issuer + "\"");
    }
}

/* ---- jwks_file --------------------------------------------------------- */

/* (Re)loads dbx_oauth.jwks_file into the file slot; on error the previous
 * keys stay and the error shows in worker_status() under issuer "*". */
void reload_jwks_file(WorkerState &s) {
    const std::string path = dbx_oauth_jwks_file ? dbx_oauth_jwks_file : "";
    if (path.empty()) {
        s.file_json.clear();
        return; /* slot and status row are dropped by key_store_retain_issuers */
    }
    KeyStoreStatus st{};
    copy_text(st.issuer, sizeof st.issuer, KEY_STORE_FILE_SLOT);
    st.last_attempt = GetCurrentTimestamp();
    for (const KeyStoreStatus &old : key_store_copy_status()) {
        if (strcmp(old.issuer, KEY_STORE_FILE_SLOT) == 0) {
            st.last_success = old.last_success;
            st.consecutive_failures = old.consecutive_failures;
        }
    }
    core::JwksCheck check = core::load_jwks_file(path, KEY_STORE_MAX_JWKS_BYTES);
    std::string error = check.ok ? std::string() : check.error;
    if (error.empty() && !key_store_publish(KEY_STORE_FILE_SLOT, KEY_SOURCE_JWKS_FILE, check.compact_json.data(),
                                            check.compact_json.size(), check.key_count))
        error = "no free key-store slot";
    if (!error.empty()) {
        st.consecutive_failures++;
        copy_text(st.last_error, sizeof st.last_error, error);
        log_msg(WARNING, "dbx_oauth: could not load dbx_oauth.jwks_file, keeping the previous keys", error);
    } else {
        st.consecutive_failures = 0;
        st.last_success = st.last_attempt;
        if (check.compact_json != s.file_json)
            log_msg(LOG, "dbx_oauth: loaded " + std::to_string(check.key_count) + " keys from \"" + path + "\"");
        if (!check.skipped.empty())
            log_msg(WARNING, "dbx_oauth: skipped unusable keys in \"" + path + "\"",
                    describe_skipped(check.skipped));
        s.file_json = check.compact_json;
    }
    key_store_put_status(&st);
}

/* ---- configuration ----------------------------------------------------- */

void apply_config(WorkerState &s, TimestampTz now) {
    std::vector<std::string> wanted = split_list(dbx_oauth_issuers);
    if (wanted.size() > KEY_STORE_MAX_ISSUERS) {
        log_msg(WARNING, "dbx_oauth: only the first " + std::to_string(KEY_STORE_MAX_ISSUERS) +
                             " issuers in dbx_oauth.issuers are used");
        wanted.resize(KEY_STORE_MAX_ISSUERS);
    }
    wanted.erase(std::remove_if(wanted.begin(), wanted.end(),
                                [](const std::string &i) {
                                    if (i.size() < KEY_STORE_MAX_ISSUER_LEN && i != KEY_STORE_FILE_SLOT)
                                        return false;
                                    log_msg(WARNING, "dbx_oauth: ignoring issuer \"" + i.substr(0, 80) +
                                                         "\": name too long or reserved");
                                    return true;
                                }),
                 wanted.end());

    /* Drop issuers no longer configured, from this state and shared memory. */
    s.issuers.erase(std::remove_if(s.issuers.begin(), s.issuers.end(),
                                   [&](const IssuerState &is) {
                                       return std::find(wanted.begin(), wanted.end(), is.issuer) == wanted.end();
                                   }),
                    s.issuers.end());
    std::vector<std::string> keep = wanted;
    if (dbx_oauth_jwks_file != nullptr && dbx_oauth_jwks_file[0] != '\0')
        keep.push_back(KEY_STORE_FILE_SLOT);
    key_store_retain_issuers(keep);

    /* A shorter interval applies at once, not after the old one elapses. */
    const bool interval_changed = s.refresh_interval_s != dbx_oauth_jwks_refresh_interval;
    s.refresh_interval_s = dbx_oauth_jwks_refresh_interval;

    uint64 version = 0;
    std::vector<IssuerKeys> current = key_store_copy(&version);
    for (const std::string &issuer : wanted) {
        auto it = std::find_if(s.issuers.begin(), s.issuers.end(),
                               [&](const IssuerState &is) { return is.issuer == issuer; });
        if (it == s.issuers.end()) {
            IssuerState is;
            is.issuer = issuer;
            copy_text(is.status.issuer, sizeof is.status.issuer, issuer);
            load_persisted(is, current);
            is.next_due = now;
            s.issuers.push_back(std::move(is));
            it = s.issuers.end() - 1;
        } else if (interval_changed) {
            it->next_due = std::min(it->next_due, plus_ms(now, refresh_interval_ms()));
        }
        /* allow_insecure_http may have changed: re-check the URL itself. */
        std::optional<std::string> refusal = core::check_url_policy(issuer, dbx_oauth_allow_insecure_http);
        it->refused = refusal.has_value();
        if (it->refused) {
            /* Counted as a failure so that alerts on consecutive_failures fire. */
            it->status.consecutive_failures = std::max(1, it->status.consecutive_failures);
            it->status.next_refresh = 0;
            copy_text(it->status.last_error, sizeof it->status.last_error, "issuer URL refused: " + *refusal);
            log_msg(WARNING, "dbx_oauth: not fetching keys of issuer \"" + issuer + "\"", *refusal);
        } else {
            it->next_due = std::min(it->next_due, now);
            it->status.next_refresh = it->next_due;
        }
        key_store_put_status(&it->status);
    }
    reload_jwks_file(s);
}

/* ---- one refresh ------------------------------------------------------- */

void refresh_issuer(WorkerState &s, IssuerState &is) {
    is.status.last_attempt = GetCurrentTimestamp();
    key_store_put_status(&is.status);

    core::KeyFetchResult r = core::fetch_issuer_keys(is.issuer, http_options(), KEY_STORE_MAX_JWKS_BYTES);
    const TimestampTz done = GetCurrentTimestamp();
    if (!r.ok && ShutdownRequestPending)
        return; /* cancelled by SIGTERM: not the issuer's failure */
    /* A round without any 200 response keeps the previous clock sample. */
    if (r.clock_sampled) {
        is.status.clock_measured = r.clock_offset_s.has_value();
        is.status.clock_offset_s = r.clock_offset_s.value_or(0);
    }
    if (r.ok && !key_store_publish(is.issuer.c_str(), KEY_SOURCE_DISCOVERY, r.jwks.compact_json.data(),
                                   r.jwks.compact_json.size(), r.jwks.key_count)) {
        r.ok = false;
        r.error = "no free key-store slot";
    }

    if (r.ok) {
        is.failures = 0;
        is.status.consecutive_failures = 0;
        is.status.last_success = done;
        is.status.last_error[0] = '\0';
        is.next_due = plus_ms(done, refresh_interval_ms());
        if (r.jwks.compact_json != is.published_json) {
            log_msg(LOG, "dbx_oauth: keys of issuer \"" + is.issuer + "\" updated: " +
                             std::to_string(r.jwks.key_count) + " usable keys");
            if (!r.jwks.skipped.empty())
                log_msg(WARNING, "dbx_oauth: skipped unusable keys of issuer \"" + is.issuer + "\"",
                        describe_skipped(r.jwks.skipped));
            is.published_json = r.jwks.compact_json;
        }
        persist(is, r.jwks.compact_json, done);
    } else {
        is.failures++;
        is.status.consecutive_failures = is.failures;
        copy_text(is.status.last_error, sizeof is.status.last_error, r.error);
        core::BackoffPolicy policy;
        policy.base_ms = kBackoffBaseMs;
        policy.max_ms = std::min(kBackoffMaxMs, refresh_interval_ms());
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        is.next_due = plus_ms(done, core::backoff_delay_ms(policy, is.failures, unit(s.rng)));
        log_msg(WARNING, "dbx_oauth: could not refresh keys of issuer \"" + is.issuer + "\", keeping the last good keys",
                r.error + " (attempt " + std::to_string(is.failures) + ")");
    }
    is.status.next_refresh = is.next_due;
    key_store_put_status(&is.status);
}

/*
 * One wake-up: apply a reload, decide what to refresh, refresh it, answer
 * waiting backends.  Returns how long to sleep (ms).
 */
long worker_step(bool reload) {
    WorkerState &s = state();
    TimestampTz now = GetCurrentTimestamp();
    if (reload)
        apply_config(s, now);

    uint64 upto = 0;
    bool forced = false;
    const bool requested = key_store_take_requests(&upto, &forced);
    bool refresh_all = forced;
    if (forced) {
        s.kid_pending = false;
    } else if (requested || s.kid_pending) {
        if (s.last_kid_refresh == 0 ||
            now >= TimestampTzPlusMilliseconds(s.last_kid_refresh, kKidRefreshMinIntervalMs)) {
            refresh_all = true;
            s.last_kid_refresh = now;
            s.kid_pending = false;
        } else {
            s.kid_pending = true;
        }
    }

    for (IssuerState &is : s.issuers) {
        if (ShutdownRequestPending)
            return 0;
        if (!is.refused && (refresh_all || now >= is.next_due))
            refresh_issuer(s, is);
    }
    if (requested)
        key_store_complete_requests(upto);

    now = GetCurrentTimestamp();
    TimestampTz wake = plus_ms(now, refresh_interval_ms());
    for (const IssuerState &is : s.issuers) {
        if (!is.refused)
            wake = std::min(wake, is.next_due);
    }
    if (s.kid_pending)
        wake = std::min(wake, TimestampTzPlusMilliseconds(s.last_kid_refresh, kKidRefreshMinIntervalMs));
    return std::max<long>(1, static_cast<long>((wake - now + 999) / 1000));
}

void worker_init() {
    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [] {
            core::http_global_init();
            state().rng.seed(static_cast<uint64_t>(MyProcPid) ^ static_cast<uint64_t>(GetCurrentTimestamp()));
        }))
        report_worker_error(kWorkerName, err);
}

long loop_step(bool *reload) {
    return worker_cpp_step(kWorkerName, reload, kErrorSleepMs, worker_step);
}

void detach_at_exit(int, Datum) {
    key_store_worker_detach();
}

}  // namespace

void worker_register(void) {
    /* Keys are needed as soon as logins are possible, also on a standby. */
    register_dbx_oauth_worker("dbx_oauth key refresh", "dbx_oauth_worker_main", BGWORKER_SHMEM_ACCESS, BgWorkerStart_PostmasterStart, 2);
}

extern "C" PGDLLEXPORT void dbx_oauth_worker_main(Datum main_arg) {
    worker_handle_signals();
    key_store_worker_attach(MyLatch, MyProcPid);
    before_shmem_exit(detach_at_exit, (Datum) 0);
    run_worker_loop({"dbx_oauth key refresh worker", worker_init, loop_step});
}
