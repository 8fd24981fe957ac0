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
        "Every login is a new backend, and a new backend can validate its first token only "
        "after loading the keys from shared memory: `refresh_keys()` → `parse_jwks()`, which "
        "imports each key with `EVP_PKEY_fromdata` and then runs `EVP_PKEY_public_check`. For "
        "RSA that is OpenSSL's SP 800-56B public-key check, which includes a probable-prime "
        "test on the modulus: about 5 ms of CPU per RSA-2048 key on this machine (figure 6, "
        "“core parse_jwks, 1 RSA key”) — more than a whole `trust` connection costs here, so "
        "it dominates the login; the signature check itself is a few hundredths of a "
        "millisecond. Over TCP+SSL the TLS handshake dilutes the same fixed cost, hence the "
        "better ratio there. Fix in the extension (src/core/jwk.cpp, src/pg/validate.cpp): run "
        "the full public-key check once where keys enter the system (the worker and the "
        "`jwks_file` loader, which already reject bad keys) and import the already-checked "
        "keys in backends without `EVP_PKEY_public_check`, so a login pays only the key import "
        "and one verify."),
    ("rls", "`current_identity()` unwrapped ≤ 0.8×"): (
        "perf on a backend running the unwrapped query: about 27% of its time is in "
        "`effective_or_error()` (src/pg/sql_session.cpp), and 89% of that is a single "
        "instruction — the `rep movsq` that zero-fills the 2 KB `PgError` (message, detail "
        "and hint buffers, src/pg/boundary.h) declared for the C++ boundary on every call, "
        "i.e. once per row. The function then pallocs and copies a new text datum per row. "
        "`current_user` does a syscache lookup and a name→text conversion per row, so the two "
        "end up close. Fix: test the cached identity (the common case) before entering "
        "`cpp_call`, declare `PgError` without zero-filling it (only `sqlstate` needs a value; "
        "`fill_pg_error` writes the rest), and return a text datum built once per identity "
        "change instead of once per row. Removing the memset alone removes about a quarter of "
        "the per-row cost."),
    ("rls", "`current_identity()` unwrapped ≥ 40×"): (
        "The ratio is (JSON-GUC time) / (`current_identity()` time), so it inherits the "
        "per-row overhead explained in the target above: the JSON-GUC form re-parses the "
        "whole claims object (the full ~230-byte Databricks payload, as PostgREST puts it in "
        "`request.jwt.claims`) into jsonb on every row, while `current_identity()` pays a "
        "2 KB memset, an fmgr call and a palloc'd copy per row. Compare each with the wrapped "
        "forms, which show the scan-and-compare floor: with the memset gone and a cached text "
        "datum returned, `current_identity()` approaches that floor and the ratio rises past "
        "40×. A smaller claims object would make the JSON-GUC baseline cheaper."),
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
        "path rules in well under 100 ns (core series above). The extra SQL cost is glue "
        "(perf on the backend): 84% of `dbx_oauth_volume_allows`' own time is a `rep movsq` "
        "zero-filling the 2 KB `PgError` of the C++ boundary on every row (as in figure 3), "
        "and `read_access_args` (deforming the text, enum, bigint and composite arguments), "
        "`decide_access` and the volume lookup add the rest. Fix in src/pg/sql_volumes.cpp: do "
        "not zero-fill `PgError` per call, and skip reading the defaulted `size` and "
        "`as_user` arguments when they are NULL; the per-call-site volume cache already "
        "avoids catalog access."),
}

FALLBACK = ("No analysis is recorded for this target yet (bench/harness/explanations.py); "
            "see the ratios above.")


def explain(figure_key, target_text):
    for (key, prefix), text in EXPLANATIONS.items():
        if key == figure_key and target_text.startswith(prefix):
            return text
    return FALLBACK
