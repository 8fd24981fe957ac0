-- 10,000 revocations of other identities, a third each identity blocks,
-- issued-before cutoffs and single tokens, then a revision bump so the
-- revocation loader reloads its shared-memory mirror.  Used by bench/run's
-- login figure and by test/t/095_revocation_bench.pl; created_by = 'bench'
-- marks them for removal.
INSERT INTO dbx_oauth.revocation_entries (kind, identity, issued_before, token_key, expires_at,
                                          source, created_by)
SELECT CASE i % 3 WHEN 0 THEN 'identity-block' WHEN 1 THEN 'identity-cutoff' ELSE 'token' END,
       CASE WHEN i % 3 = 2 THEN NULL ELSE 'gone' || i || '@example.com' END,
       CASE WHEN i % 3 = 1 THEN now() END,
       CASE WHEN i % 3 = 2 THEN 'jti:bench-' || i END,
       CASE WHEN i % 3 = 2 THEN now() + interval '1 day' END,
       'admin', 'bench'
FROM generate_series(1, 10000) i;
UPDATE dbx_oauth.revocation_state SET revision = revision + 1;
