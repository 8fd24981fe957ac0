# Hostile-token corpus: every token an attacker might try,
# through SQL (token_status, validate_token) and through a real login.
# Each must be rejected with the right reason, in SQL and in the login log
# line; the client only ever sees the generic message; no backend crashes;
# no token text (nor any of its segments) reaches the server log, even with
# log_min_error_statement = error.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use JSON::PP ();
use MIME::Base64 qw(encode_base64url decode_base64url);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('hostile', conf => q{
log_statement = none
log_min_error_statement = error
});
my $node = $t->node;
my $alice = 'alice@example.com';
$node->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$alice', 'USER')});

my $mint = "$DbxOAuthNode::SRCDIR/test/fixtures/mint";
my $json = JSON::PP->new->canonical;

# --- hostile keys next to the good ones in the trusted JWKS --------------
# An RSA-1024 key and an Ed25519 key of small order (the identity point),
# both published with use=sig; both must be skipped, the good keys kept.
my $weak = $node->basedir . '/weak';
DbxOAuthNode::run_or_die($mint, 'keygen', '--dir', $weak, '--kid', 'weak-rsa1024', '--type', 'rsa1024');
my $attacker = $node->basedir . '/attacker';
DbxOAuthNode::run_or_die($mint, 'keygen', '--dir', $attacker, '--kid', 'attacker-rsa', '--type', 'rsa2048');

my $good_jwks = $json->decode(slurp_file($t->keys_dir . '/jwks.json'));
my $weak_jwks = $json->decode(slurp_file("$weak/jwks.json"));
my $small_order_x = encode_base64url("\x01" . ("\x00" x 31));
my $hostile_jwks = {
	keys => [
		@{ $good_jwks->{keys} }, @{ $weak_jwks->{keys} },
		{ kty => 'OKP', crv => 'Ed25519', kid => 'small-order-ed', alg => 'EdDSA', use => 'sig', x => $small_order_x },
	] };
my $jwks_path = $node->basedir . '/hostile-jwks.json';
open(my $fh, '>', $jwks_path) or die $!;
print $fh $json->encode($hostile_jwks);
close $fh;
$node->append_conf('postgresql.conf', "dbx_oauth.jwks_file = '$jwks_path'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM dbx_oauth.keys WHERE kid IN ('login-rsa', 'login-ec')"),
	'good keys of the hostile JWKS are loaded');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM dbx_oauth.keys WHERE kid IN ('weak-rsa1024', 'small-order-ed')"),
	'0', 'RSA-1024 and small-order Ed25519 keys are skipped');
ok($node->log_contains(qr/skipped unusable keys.*weak-rsa1024/s), 'the skipped keys are logged');

# --- the corpus -------------------------------------------------------------
# Mints with test/fixtures/mint without a shell (kids with quotes); options
# as in DbxOAuthNode::mint (undef = flag, array = repeated).
sub mint_in {
	my ($dir, %o) = @_;
	my %args = (iss => $DbxOAuthNode::ISSUER, aud => '1234567890123456', sub => $alice,
		scope => 'offline_access all-apis', client_id => 'databricks-cli', %o);
	my @cmd = ($mint, 'token', '--dir', $dir);
	for my $k (sort keys %args) {
		(my $flag = $k) =~ tr/_/-/;
		for my $one (ref $args{$k} eq 'ARRAY' ? @{ $args{$k} } : ($args{$k})) {
			push @cmd, "--$flag";
			push @cmd, $one if defined $one;
		}
	}
	my ($out, $err) = run_command(\@cmd);
	die "mint failed: @cmd\n$err" if $out eq '';
	chomp $out;
	return $out;
}
sub mint { return mint_in($t->keys_dir, @_) }
my $attacker_jwk = $json->encode($json->decode(slurp_file("$attacker/jwks.json"))->{keys}[0]);

sub segs { return split /\./, $_[0], -1 }
sub join_segs { return join '.', @_ }

# A crafted token: header and payload JSON text, raw signature bytes.
sub craft {
	my ($header, $payload, $sig) = @_;
	return join_segs(encode_base64url($header), encode_base64url($payload), encode_base64url($sig // ''));
}
my $now = time();
my $claims = $json->encode({ iss => $DbxOAuthNode::ISSUER, aud => '1234567890123456', sub => $alice,
	client_id => 'databricks-cli', scope => 'offline_access all-apis', iat => $now, exp => $now + 3600 });

# ECDSA: a valid ES256 token, then r / s replaced (0 and >= n).
my $es = mint(kid => 'login-ec');
my ($es_h, $es_p, $es_s) = segs($es);
my $rs = decode_base64url($es_s);
is(length($rs), 64, 'ES256 signature is JOSE r||s');
my ($r, $s) = (substr($rs, 0, 32), substr($rs, 32, 32));
my $n = pack('H*', 'FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
my $zero = "\x00" x 32;
my $ones = "\xff" x 32;
sub es_with { return join_segs($es_h, $es_p, encode_base64url($_[0])) }

my ($good_h, $good_p, $good_s) = segs(mint());
my $deep = ('[' x 40) . (']' x 40);

# [name, token, expected reason (regex), expected via login (default: same)]
my @corpus = (
	[ 'alg none', mint(alg_none => undef), 'unsupported_alg' ],
	[ 'alg None', mint(alg_none => undef, header => 'alg="None"'), 'unsupported_alg' ],
	[ 'alg NONE', mint(alg_none => undef, header => 'alg="NONE"'), 'unsupported_alg' ],
	[ 'alg nOnE with a signature', mint(header => 'alg="nOnE"'), 'unsupported_alg' ],
	[ 'HS256 signed with the RSA public key (alg confusion)', mint(hs256_with_public_key => undef), 'unsupported_alg' ],
	[ 'HS256 with the RSA kid', mint(hs256_with_public_key => undef, header => 'kid="login-rsa"'), 'unsupported_alg' ],
	[ 'alg RS256 on the EC key', mint(kid => 'login-ec', header => 'alg="RS256"'), 'key_alg_mismatch' ],
	[ 'alg ES256 on the RSA key', mint(kid => 'login-rsa', header => 'alg="ES256"'), 'key_alg_mismatch' ],
	[ 'alg PS256 on an RS256-only key', mint(kid => 'login-rsa', alg => 'PS256'), 'key_alg_mismatch' ],
	[ 'kid with a path', mint(header => 'kid="../../../../etc/passwd"'), 'unknown_kid' ],
	[ 'kid with SQL', mint(header => q{kid="x'); DROP TABLE pg_class; --"}), 'unknown_kid' ],
	[ 'kid with NUL and newline', mint(header => 'kid="login-rsa\u0000\n"'), 'unknown_kid' ],
	[ 'kid differing in case', mint(header => 'kid="LOGIN-RSA"'), 'unknown_kid' ],
	[ 'jku pointing elsewhere, attacker key', mint_in($attacker, header => 'jku="http://127.0.0.1:1/jwks"'), 'unknown_kid' ],
	[ 'x5u pointing elsewhere, attacker key', mint_in($attacker, header => 'x5u="http://127.0.0.1:1/x.pem"'), 'unknown_kid' ],
	[ 'embedded jwk, attacker key, no kid',
	  mint_in($attacker, drop_header => 'kid', header => "jwk=$attacker_jwk"),
	  'bad_signature' ],
	[ 'embedded jwk, attacker key, trusted kid',
	  mint_in($attacker, header => [ 'kid="login-rsa"', "jwk=$attacker_jwk" ]),
	  'bad_signature' ],
	[ 'crit header', mint(header => 'crit=["exp"]'), 'crit_header' ],
	[ 'duplicate alg (RS256 then none)',
	  mint(raw_header => '{"alg":"RS256","kid":"login-rsa","typ":"at+jwt","alg":"none"}'), 'duplicate_key' ],
	[ 'duplicate kid', mint(raw_header => '{"alg":"RS256","kid":"nope","kid":"login-rsa"}'), 'duplicate_key' ],
	[ 'duplicate sub in the payload', craft('{"alg":"RS256","kid":"login-rsa"}',
		'{"sub":"bob@example.com","sub":"alice@example.com"}', 'x'), 'duplicate_key' ],
	[ 'padded base64url', mint(pad_base64 => undef), 'bad_base64' ],
	[ 'padded signature only', mint(pad_base64 => 'signature'), 'bad_base64' ],
	[ 'standard base64 alphabet', join_segs($good_h, $good_p, $good_s =~ tr/-_/+\//r), 'bad_base64' ],
	[ 'non-canonical base64url (trailing bits)', mint(noncanonical_base64 => undef), 'bad_base64' ],
	[ 'leading space', " " . mint(), 'bad_base64' ],
	[ 'trailing newline', mint() . "\n", 'bad_base64' ],
	[ 'space inside the payload', mint(segment_prefix => 'payload= '), 'bad_base64' ],
	[ 'tab after a dot', mint(segment_prefix => 'signature=\t'), 'bad_base64' ],
	[ 'deeply nested claim', mint(claim => "deep=$deep"), 'nesting_too_deep' ],
	[ 'deeply nested header', mint(raw_header => '{"alg":"RS256","kid":"login-rsa","x":' . $deep . '}'), 'nesting_too_deep' ],
	[ 'exp as a string', mint(claim => 'exp="' . ($now + 3600) . '"'), 'bad_claim_type' ],
	[ 'exp as a float', mint(claim => 'exp=' . ($now + 3600) . '.5'), 'bad_claim_type' ],
	[ 'exp = 2^63', mint(claim => 'exp=9223372036854775808'), 'bad_claim_type' ],
	[ 'exp = 2^64 + 1', mint(claim => 'exp=18446744073709551617'), 'bad_claim_type' ],
	# Not representable as a double: the strict parser refuses the document.
	[ 'exp = 1e400', mint(claim => 'exp=1e400'), 'bad_json' ],
	[ 'exp negative', mint(claim => 'exp=-1'), 'bad_claim_type' ],
	[ 'exp missing', mint(drop_claim => 'exp'), 'missing_exp' ],
	[ 'iat in the future', mint(iat => $now + 7200, lifetime => 3600), 'issued_in_future' ],
	[ 'nbf as a string', mint(claim => 'nbf="0"'), 'bad_claim_type' ],
	[ 'signed by the RSA-1024 key in the JWKS', mint_in($weak, kid => 'weak-rsa1024'), 'unknown_kid' ],
	[ 'Ed25519 small-order key, identity signature',
	  craft('{"alg":"EdDSA","kid":"small-order-ed","typ":"at+jwt"}', $claims, "\x01" . ("\x00" x 63)), 'unknown_kid' ],
	[ 'ECDSA DER signature', mint(kid => 'login-ec', ecdsa_der => undef), 'bad_signature' ],
	[ 'ECDSA r = 0', es_with($zero . $s), 'bad_signature' ],
	[ 'ECDSA s = 0', es_with($r . $zero), 'bad_signature' ],
	[ 'ECDSA r = s = 0', es_with($zero . $zero), 'bad_signature' ],
	[ 'ECDSA r = n', es_with($n . $s), 'bad_signature' ],
	[ 'ECDSA s = n', es_with($r . $n), 'bad_signature' ],
	[ 'ECDSA r = 2^256 - 1', es_with($ones . $s), 'bad_signature' ],
	[ 'ECDSA signature one byte short', es_with(substr($rs, 0, 63)), 'bad_signature' ],
	[ 'another issuer, signed with a trusted key', mint(iss => 'https://evil.example.com/oidc'), 'untrusted_issuer' ],
	[ 'issuer differing by a trailing slash', mint(iss => "$DbxOAuthNode::ISSUER/"), 'untrusted_issuer' ],
	[ 'header and payload swapped', join_segs($good_p, $good_h, $good_s), 'malformed' ],
	[ 'signature of another token (tamper swap)', mint(tamper => 'swap'), 'bad_signature' ],
	[ 'truncated signature', mint(tamper => 'truncate-signature'), 'bad_signature' ],
	[ 'signature stripped', mint(tamper => 'strip-signature'), 'bad_signature|unsupported_alg' ],
	[ 'two segments', join_segs($good_h, $good_p), 'malformed' ],
	[ 'four segments', join_segs($good_h, $good_p, $good_s, $good_s), 'malformed' ],
	[ 'header not an object', craft('["RS256"]', $claims, 'x'), 'malformed' ],
	[ 'payload not JSON', craft('{"alg":"RS256","kid":"login-rsa"}', 'not json', 'x'), 'bad_json' ],
	[ 'invalid UTF-8 in the payload', craft('{"alg":"RS256","kid":"login-rsa"}', "{\"sub\":\"\xff\xfe\"}", 'x'), 'bad_json' ],
	[ 'token just over 16 KiB', mint(filler => 16 * 1024), 'token_too_large' ],
);

# --- SQL ---------------------------------------------------------------------
# token_status() never raises; validate_token() raises 28000 naming the
# reason and never the token.  Tokens go in as dollar-quoted literals.
sub q_token { my ($tok) = @_; die "token contains the quote tag" if $tok =~ /\$tok\$/; return "\$tok\$$tok\$tok\$" }

for my $case (@corpus) {
	my ($name, $token, $reason) = @$case;
	my $status = $node->safe_psql('postgres',
		'SELECT valid, reason FROM dbx_oauth.token_status(' . q_token($token) . ')');
	like($status, qr/^f\|(?:$reason)$/, "SQL token_status: $name -> $reason");
	my ($rc, $out, $err) = $node->psql('postgres',
		'SELECT dbx_oauth.validate_token(' . q_token($token) . ')',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	ok($rc != 0 && $err =~ /ERROR:\s+28000: invalid token: / && index($err, $token) < 0,
		"SQL validate_token: $name raises 28000 without the token")
	  or diag($err);
}

# --- login --------------------------------------------------------------------
my $generic = qr/password authentication failed for user "\Q$alice\E"/;
for my $case (@corpus) {
	my ($name, $token, $reason) = @$case;
	$node->connect_fails($t->connstr($alice, $token, tcp => 1, ssl => 1), "login: $name",
		expected_stderr => $generic,
		log_like => [qr/dbx_oauth: token login rejected: reason=(?:$reason)\b[^\n]*token_fingerprint=[0-9a-f]{16}/]);
}

# A 1 MiB token: refused by size in SQL, and by the password-message limit
# (65,535 bytes, as in core) at login before any of it is kept; too long for
# a command line, so libpq reads it from a passfile.
my $mib = mint(filler => 1024 * 1024);
cmp_ok(length($mib), '>', 1024 * 1024, '1 MiB token minted');
is($node->safe_psql('postgres', 'SELECT valid, reason FROM dbx_oauth.token_status(' . q_token($mib) . ')'),
	'f|token_too_large', 'SQL token_status: 1 MiB token -> token_too_large');
my $passfile = $node->basedir . '/pgpass-mib';
open($fh, '>', $passfile) or die $!;
print $fh "*:*:*:*:$mib\n";
close $fh;
chmod 0600, $passfile;
{
	local $ENV{PGPASSFILE} = $passfile;
	$node->connect_fails($t->connstr($alice, undef, tcp => 1, ssl => 1), 'login: 1 MiB token',
		expected_stderr => $generic,
		log_like => [qr/dbx_oauth: token login rejected: reason=(?:token_too_large|malformed \(password message too long\))[^\n]*token_fingerprint=none/]);
}

# The same items accepted once repaired, so the corpus tests what it claims:
# the good token passes both paths, and a trusted-signed token with jku/x5u
# still validates against the trusted key only (the URLs are never used).
my $good = mint();
is($node->safe_psql('postgres', 'SELECT valid, reason FROM dbx_oauth.token_status(' . q_token($good) . ')'),
	't|ok', 'control: the good token is accepted in SQL');
$node->connect_ok($t->connstr($alice, $good, tcp => 1, ssl => 1), 'control: the good token logs in',
	sql => 'SELECT current_user', expected_stdout => qr/^\Q$alice\E$/);
is($node->safe_psql('postgres', 'SELECT valid, reason FROM dbx_oauth.token_status(' . q_token(
	mint(header => [ 'jku="http://127.0.0.1:1/jwks"', 'x5u="http://127.0.0.1:1/x"' ])) . ')'),
	't|ok', 'control: jku/x5u on a trusted-signed token are ignored (never fetched)');
is($node->safe_psql('postgres', 'SELECT valid, reason FROM dbx_oauth.token_status(' . q_token(
	mint(iat => $now + 30, lifetime => 3600)) . ')'),
	't|ok', 'control: iat within clock_skew is accepted');

# --- nothing crashed, nothing leaked ---------------------------------------
is($node->safe_psql('postgres', 'SELECT count(*) FROM dbx_oauth.sessions'), '0', 'no session left behind');
my $log = $t->server_log;
unlike($log, qr/terminated by signal|server process .* was terminated|PANIC/, 'no backend crashed');
my @leaks;
for my $case (@corpus, [ '1 MiB', $mib ], [ 'good', $good ]) {
	my ($name, $token) = @$case;
	for my $piece ($token, segs($token)) {
		(my $p = $piece) =~ s/^\s+|\s+$//g;
		next if length($p) < 16;
		push @leaks, $name if index($log, $p) >= 0;
	}
}
is_deeply(\@leaks, [], 'no token, header, payload or signature text in the server log');

$node->stop;
done_testing();
