"""Why a target was missed, per figure and target, for docs/benchmarks.md.

Written from profiling the code paths (perf on core_bench and on backends
running the figure's workload), not from one run's numbers; shown only next
to a target that the run missed.  Update when the code changes, then
regenerate the docs with `bench/run --report-from bench/results/<date>.json`.
"""

EXPLANATIONS = {
    ("signature", "RS256 validation"): (
        "The signature check is not the problem — compare the `verify_signature()` ratio "
        "above — the work around it is. perf on `core_bench` (`BM_Validate/RS256`): about 60% "
        "of a cold RS256 validation is in libcrypto; the rest is base64url decoding of the "
        "three segments (byte by byte), two strict JSON parses into nlohmann DOMs, "
        "re-serialising the payload into `claims_json`, the SHA-256 fingerprint, and the "
        "allocations all of these make, plus per-call OpenSSL 3 context creation and digest "
        "fetches (`OPENSSL_LH_doall_arg` in the profile) that `openssl speed` does once. An "
        "RSA-2048 verify with e = 65537 is so cheap (tens of µs) that this fixed overhead "
        "shows; next to the 3–8× slower ES256 and Ed25519 verifies the same overhead matters "
        "much less (their ratios above). To reach 80%: keep the decoded payload text instead "
        "of re-serialising it, decode base64url into a pre-sized buffer, fetch the `EVP_MD` "
        "once, and compute the fingerprint only when it is logged. Pooled use does not pay "
        "this at all: a cache hit is 30–200× cheaper (second target)."),
    ("login", "token login"): (
        "Since the run of 19:31 backends import keys from shared memory without OpenSSL's "
        "SP 800-56B RSA check (the worker and the jwks_file loader run it once and publish "
        "only usable keys; `KeyCheck::trusted_source`), which moved the unix-socket ratio "
        "from 0.47× to about 0.84×. What remains per new backend: parsing the published "
        "JWKS (strict JSON, `EVP_PKEY_fromdata` per key), the extra protocol round trip "
        "(AuthenticationCleartextPassword → PasswordMessage), one cold validation (~60 µs "
        "for RS256, figure 1), the role-label and membership lookups, and the "
        "session_preload_libraries guard. Follow-up: import the keys once in the postmaster "
        "for the jwks_file and persisted sources so forked backends inherit them, and keep "
        "DER-encoded keys in shared memory so a backend needs no JSON work."),
    ("rls", "`current_identity()` unwrapped ≤ 0.8×"): (
        "Met since the 2 KB `PgError` is no longer zero-filled per call and the cached "
        "identity is checked before entering the C++ boundary (src/pg/sql_session.cpp); "
        "before that it measured 1.33×. What is left per row is an fmgr call and a palloc'd "
        "text copy."),
    ("rls", "`current_identity()` unwrapped ≥ 40×"): (
        "The ratio is (JSON-GUC time) / (`current_identity()` time): the JSON-GUC form "
        "re-parses the whole claims object into jsonb on every row, while "
        "`current_identity()` pays an fmgr call and a palloc'd copy. On this noisy machine "
        "the ratio moves around 35–45× between runs; returning a text datum built once per "
        "identity change instead of a per-row copy would add margin."),
    ("pool", "set_token overhead"): (
        "Mostly structural: the baseline transaction is three round trips through PgBouncer "
        "(`BEGIN`, the primary-key `SELECT`, `COMMIT`) doing almost no work, and `set_token` "
        "as its own statement adds a fourth, so even a free `set_token` would add about a "
        "third; on top of that a cache-hit `set_token` costs about 2.5–3.5× a `SELECT 1` "
        "(figure 3), mostly in PostgreSQL rather than the extension (perf: ~6% of the "
        "backend's time is in dbx_oauth.so): role lookups including uncached `pg_shseclabel` "
        "reads for the identity label (`GetSecurityLabel` has no syscache), `SET LOCAL ROLE` "
        "through the GUC machinery and its end-of-transaction unwinding, and re-parsing the "
        "claims JSON for `claims()`. This machine's noise is large here (see min–max; another "
        "run measured −1%). The target is reachable for transactions that do real work, or "
        "when the client sends `BEGIN; SELECT dbx_oauth.set_token(...)` in one round trip "
        "(simple-query batch or pipelining); caching role and label per identity would cut "
        "the server-side part."),
    ("volume", "≤ 100 ns extra"): (
        "The policy itself is cheap: the core evaluates this 3-level policy including the "
        "path rules in well under 100 ns (core series above). The per-row `PgError` memset "
        "is gone (301 → about 206 ns); the rest is glue in src/pg/sql_volumes.cpp: "
        "`read_access_args` deforms the text, enum, bigint and composite arguments on every "
        "row, and `decide_access` plus the volume lookup run per call. Follow-up: skip the "
        "defaulted `size` and `as_user` arguments when NULL without deforming, and cache the "
        "resolved volume and parsed policy per call site in `fn_extra`."),
}

FALLBACK = ("No analysis is recorded for this target yet (bench/harness/explanations.py); "
            "see the ratios above.")


def explain(figure_key, target_text):
    for (key, prefix), text in EXPLANATIONS.items():
        if key == figure_key and target_text.startswith(prefix):
            return text
    return FALLBACK
