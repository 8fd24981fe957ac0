"""Why a target was missed, per figure and target, for docs/benchmarks.md.

Written from profiling the code paths (perf on core_bench and on backends
running the figure's workload), not from one run's numbers; shown only next
to a target that the run missed.  Update when the code changes, then
regenerate the docs with `bench/run --report-from bench/results/<date>.json`.
"""

EXPLANATIONS = {
    ("signature", "cold RS256"): (
        "The yardstick is the core's own `verify_signature()` in the same binary and run, "
        "so the CPU swings of this VM hit both sides; what a cold validation adds around "
        "the one RSA verify is splitting and base64url-decoding the token, the two JSON "
        "documents (header and claims), key selection, the SHA-256 fingerprint and the "
        "claim checks. Earlier analysis, against `openssl speed`: "
        "Met since the session of 2026-11-25 evening (0.38× before): strict JSON is parsed "
        "through a SAX builder that checks duplicates in the object being filled, base64url "
        "decodes four characters at a time into a pre-sized buffer, digests are fetched from "
        "OpenSSL once per process, each key keeps a prepared verification context per "
        "algorithm (no per-call `EVP_DigestVerifyInit`), and the decoded payload is kept as "
        "the claims text instead of being re-serialised. perf on `core_bench` "
        "(`BM_Validate/RS256`) now shows about 75% of a cold validation in `RSA_verify`. An "
        "RSA-2048 verify with e = 65537 is so cheap that the remaining fixed work (two small "
        "JSON DOMs, the SHA-256 fingerprint) still shows. The ratio also swings between runs on "
        "this shared VM: the same code measured 0.85× at 22:41 and 0.57× at 23:41 on "
        "2026-11-25; in the slower run even `verify_signature()` alone fell to 0.86× of "
        "`openssl speed` (1.07× before), i.e. the core benchmark and `openssl speed` saw "
        "different CPU. Pooled use does not pay this at all: a cache hit is 30–200× "
        "cheaper."),
    ("login", "token login"): (
        "What a token login adds to a `trust` login, per new backend. Every login here uses "
        "the same token, so after the first it is a hit in the shared token cache: no key "
        "parse and no RSA verification per login (figure 1 has those). What is left: the "
        "extra protocol round trip (AuthenticationCleartextPassword → PasswordMessage), the "
        "role checks, the role's label read (overlapped with the client's answer), the "
        "SHA-256 of the token and the shared-cache lookup, the revocation check and the "
        "session-registry entry: ~2.2 ms inside the hook over the unix socket, timed in "
        "docs/architecture.md, against a ~23 ms `trust` login. Most of it is first touches "
        "of memory and code in a freshly forked process, which are dear on this VM: a "
        "standalone fork test (2026-12-05) took ~16–19 µs per first write to an inherited "
        "heap page, ~10–14 µs per shared-memory page, and ~400–500 µs for the first SHA-256 "
        "in a child whose parent had already fetched the digest and made its context (19 "
        "faults, on libcrypto's code pages, which fork does not copy). The postmaster "
        "already prepares what forked backends can inherit (the digest and its context, the "
        "token cache's tables, the lazily bound C++ runtime calls: docs/architecture.md); "
        "what remains are pages the backend must touch itself, so the unix-socket ratio "
        "moves with this VM's fault cost (0.87×–0.97× over the two quiet runs of "
        "2026-12-05). Over TCP+SSL the TLS handshake dominates both sides."),
    ("rls", "`current_identity()` unwrapped ≤ 0.8×"): (
        "In a query that reads rows the call is planned as an InitPlan (next target), so a "
        "row pays one comparison with a constant. Where it stays a call per row (a query "
        "with a volatile function, MERGE), each call site keeps the identity's text datum "
        "in `fn_extra`, tagged with the identity version (src/pg/session/sql_session.cpp): "
        "an fmgr call and a version compare, no palloc, no copy, no C++ boundary."),
    ("rls", "`current_identity()` unwrapped ≥ 40×"): (
        "The ratio is (JSON-GUC time) / (`current_identity()` time) per query over the same "
        "1,000,000 rows, so the scan and the `texteq` per row are in both. Since commit "
        "d9b460d the unwrapped call is planned as the wrapped form: a planner support "
        "function turns it into an InitPlan computed once per execution "
        "(src/pg/session/identity_initplan.cpp; exact for plans reused across identity "
        "switches, test/t/038_identity_initplan.pl), so each row is compared with one value "
        "and the row \"unwrapped / wrapped\" is ~1. Before it, the call per row cost "
        "~8–10 ns more. The ratio is now the row \"ceiling for any helper\" (JSON GUC / "
        "wrapped): a scan comparing every row with a constant, which no helper can beat. "
        "That ceiling moves with this VM, because the scan is memory-bound and the JSON "
        "parse is not: 37.0× and 46.7× in the two quiet runs of 2026-12-05 17:25–18:04, "
        "43.3× at 18:22. In a run where it is under 40×, the target cannot be met by any "
        "implementation of `current_identity()`."),
    ("rls", "`set_token` cache hit"): (
        "Measured server side (`pgbench -M prepared`, one client, unix socket) against "
        "`SELECT 1`: after the cache lookup what a hit still pays is `SET LOCAL ROLE` "
        "through the GUC machinery and its unwinding at the end of the transaction."),
    ("pool", "`set_token` overhead"): (
        "The target rows are still PgBouncer 1.18 (Debian 12) with unnamed statements, "
        "where the cost is structural (callgrind, private PostgreSQL 15, `-M extended`: "
        "plain transaction 153.5k server instructions, with an extra `SELECT 1` +28%, with "
        "`SELECT set_token($1, true)` +75%, of which ~85k is PostgreSQL's statement "
        "machinery: Parse, parse analysis, planning, plan-cache copies, repeated in every "
        "transaction). The design change tried on 2026-12-05, prepared statements through "
        "PgBouncer 1.24 (`max_prepared_statements`, PgBouncer ≥ 1.21), both sides "
        "`-M prepared`, is reported beside them and did not hold the line with margin. In "
        "three runs (load average 2–9 on the 2 shared cores) the server CPU the switch adds "
        "per pipelined transaction was +27% / +30% / +22% prepared against +57% / +27% / "
        "+51% unnamed, and the total CPU per transaction (server, PgBouncer, pgbench: what "
        "the latency of 2 clients on 2 cores follows) +22% / +32% / +6% prepared against "
        "+37% / +19% / +36% unnamed; an extra prepared `SELECT 1` alone cost +10% / +19% "
        "server and +20% / +12% total. PgBouncer 1.24 spends ~15–30 µs more per transaction "
        "than 1.18 tracking and renaming prepared statements, and one more "
        "Bind/Execute through the pipeline costs client, PgBouncer and server work whatever "
        "the function does. Single-run latency ratios on the loaded machine ranged +4% to "
        "+51% for the prepared form and +3% to +29% for the unnamed one: on this machine "
        "only the CPU table is a usable yardstick. What remains to reach 15% is not "
        "Parse/plan but the extra statement itself: the switch would have to ride inside "
        "a statement the transaction sends anyway."),
    ("pool", "the procedure form"): (
        "`CALL dbx_oauth.set_token_local($1)` is a utility statement: unnamed, ~35–40k fewer "
        "server instructions per transaction than the `SELECT` form (callgrind: +75–77k "
        "over the plain transaction, against +115k). Prepared, it gains nothing over the "
        "prepared `SELECT` (server CPU per transaction about the same in the same run): a "
        "prepared `CALL` still transforms the call and its arguments and starts an "
        "expression context at every execution, which is about what the prepared "
        "`SELECT`'s generic plan costs."),
    ("volume", "`volume_allows`"): (
        "The policy itself is cheap: the core evaluates this 3-level policy including the "
        "path rules in well under 100 ns (core series above). The per-row `PgError` memset "
        "is gone (301 → 104–206 ns depending on the run); the rest is glue in src/pg/volumes/sql_volumes.cpp: "
        "`read_access_args` deforms the text, enum, bigint and composite arguments on every "
        "row, and `decide_access` plus the volume lookup run per call. Follow-up: skip the "
        "defaulted `size` and `as_user` arguments when NULL without deforming, and cache the "
        "resolved volume and parsed policy per call site in `fn_extra`."),
    ("worker", "eviction scan"): (
        "The eviction scan is one pass over the session registry's dense array, reading "
        "each OAuth backend's own status entry in place (no snapshot of every backend, no "
        "join); its cost is a fixed statement overhead plus that pass, so with only a few "
        "sessions (the smoke run's 20) the fixed part dominates and the ratio to "
        "`pg_stat_activity` rises. With 500 sessions it measured 0.02×."),
}

FALLBACK = ("No analysis is recorded for this target yet (bench/harness/explanations.py); "
            "see the ratios above.")


def explain(figure_key, target_text):
    for (key, prefix), text in EXPLANATIONS.items():
        if key == figure_key and target_text.startswith(prefix):
            return text
    return FALLBACK
