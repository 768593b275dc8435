use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

use Digest::SHA qw(hmac_sha256);

no_shuffle();

# Hostile input aimed at Redis: tenant IDs, selections, jti and iat values,
# lockout keys chosen to break out of their key or to defeat revocation.
# Tokens are signed HS256 with the configured secret: only their content is
# hostile.  Every block starts from an empty Redis (FLUSHALL in its
# --- redis section); a block may first assert what the previous block's
# requests left in Redis:
#   ASSERT_KEYS pattern [key ...]   KEYS pattern is exactly these keys,
#                                   :usage:MONTH named :usage:%MONTH%
#   ASSERT_GET key value|nil
# %NOW% in a --- redis line is the current Unix time, %NOW-100% 100 s ago.
#
# A refusal is checked by its exact status and JSON body and by the access
# log, which never shows a request to /upstream.

our $Http = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free rate=100r/m burst=10;
    tenant_default_plan free;
_EOC_

our $Config = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /select {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_limit on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/upstream;
    }
    location /login {
        tenant_lockout key=$http_x_user after=1 window=60s duration=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
    }
    location /check {
        if ($arg_pw != "ok") {
            return 401 "wrong password\n";
        }
        echo "welcome";
    }
    location /upstream {
        echo "upstream: id=[$http_x_tenant_id]";
    }
_EOC_

our %Message = (
    invalid_tenant => "the token's tenant ID is not valid",
    token_revoked => "the token has been revoked",
    locked_out => "too many failed attempts, try again later",
);

sub refused {
    my ($code, $n) = @_;
    my $body = qq{{"error":"$code","message":"$Message{$code}"}\n};
    return defined $n ? [($body) x $n] : $body;
}

sub many { my ($what, $n) = @_; [($what) x $n] }

# Authorization with an HS256 token over exactly this payload text; EXP is
# an hour from now, NOW is now
sub auth {
    my $payload = shift;
    my $now = time();
    $payload =~ s/\bEXP\b/$now + 3600/ge;
    $payload =~ s/\bNOW\b/$now/g;
    my $input = TenantTest::b64u('{"alg":"HS256"}') . '.' . TenantTest::b64u($payload);
    return TenantTest::auth_header(
        $input . '.' . TenantTest::b64u(hmac_sha256($input, TenantTest::hmac_secret())));
}

sub redis_assert {
    my ($name, $line) = @_;
    my ($op, @w) = split ' ', $line;
    if ($op eq 'ASSERT_KEYS') {
        my $pattern = shift @w;
        my $got = TenantRedis::redis('KEYS', $pattern);
        s/:usage:\d{4}-\d\d\z/:usage:%MONTH%/ for @$got;
        Test::More::is_deeply([sort @$got], [sort @w],
                              "$name - redis: KEYS $pattern");
    } elsif ($op eq 'ASSERT_GET') {
        my $got = TenantRedis::redis('GET', $w[0]);
        Test::More::is(defined $got ? $got : 'nil', $w[1],
                       "$name - redis: GET $w[0]");
    } else {
        die "unknown assertion \"$op\"\n";
    }
}

add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;

    if ($block->{redis}) {
        for my $line (split /\n/, $block->{redis}[0]) {
            next unless $line =~ /\S/;
            my $now = time();
            $line =~ s/%NOW([-+]\d+)?%/$now + ($1 || 0)/ge;
            eval {
                if ($line =~ /^\s*ASSERT_/) {
                    redis_assert($name, $line);
                } else {
                    TenantRedis::redis_block({ redis => [$line] });
                }
                1;
            } or Test::More::fail("$name - redis: $line: $@");
        }
    }

    $block->set_value(http_config => $Http) unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: tenant IDs built to leave their hash tag or name another key ({globex}, acme}:rate, a glob, a CR LF with a command, a space) are refused before Redis is asked anything
--- redis
FLUSHALL
--- request eval
main::many("GET /t", 7)
--- more_headers eval
[map { main::auth(qq({"sub":"u","org_id":"$_","exp":EXP})) }
    '{globex}', 'acme}:rate', '{acme', 'acme:rate', '*',
    'acme\r\nFLUSHALL\r\n', 'acme quota']
--- error_code eval
main::many(403, 7)
--- response_body eval
main::refused("invalid_tenant", 7)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 2: (nothing reached Redis) a tenant ID with dots, dashes and underscores is admitted and counted
--- redis
ASSERT_KEYS *
FLUSHALL
--- request
GET /t
--- more_headers eval
main::auth('{"sub":"u","org_id":"a.b_c-D..","exp":EXP}')
--- error_code: 200
--- response_body
upstream: id=[a.b_c-D..]
--- access_log
"GET /upstream HTTP/1.0" 200
--- no_error_log
[error]



=== TEST 3: (its counter is inside its own hash tag) tenant_select: selections built to leave their hash tag are refused before Redis, even when the token lists them
--- redis
ASSERT_KEYS * tenant:{a.b_c-D..}:rate tenant:{a.b_c-D..}:usage:%MONTH%
FLUSHALL
--- request eval
main::many("GET /select", 4)
--- more_headers eval
my $a = main::auth('{"sub":"u","org_id":"acme","exp":EXP,'
                   . '"orgs":["{globex}","globex}:rate","globex:quota","*"]}');
[map { "$a\nX-Organization-Id: $_" } '{globex}', 'globex}:rate', 'globex:quota', '*']
--- error_code eval
main::many(403, 4)
--- response_body eval
main::refused("invalid_tenant", 4)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 4: (nothing reached Redis) tokens_valid_after cannot be dodged with an odd iat: negative, a string, huge, a boolean, null, an array, or none at all are all revoked
--- redis
ASSERT_KEYS *
FLUSHALL
HSET tenant:{acme} tokens_valid_after %NOW-100%
--- request eval
main::many("GET /t", 8)
--- more_headers eval
[map { main::auth(qq({"sub":"u","org_id":"acme","exp":EXP$_})) }
    ',"iat":-1', ',"iat":"NOW"', ',"iat":1e300', ',"iat":1e10', ',"iat":true',
    ',"iat":null', ',"iat":[NOW]', '']
--- error_code eval
main::many(401, 8)
--- response_headers eval
main::many('WWW-Authenticate: Bearer error="invalid_token"', 8)
--- response_body eval
main::refused("token_revoked", 8)
--- no_access_log
GET /upstream
--- no_error_log
[error]



=== TEST 5: tokens_valid_after: an iat issued after it, as an integer or a fraction, is admitted
--- redis
FLUSHALL
HSET tenant:{acme} tokens_valid_after %NOW-100%
--- request eval
main::many("GET /t", 2)
--- more_headers eval
[map { main::auth(qq({"sub":"u","org_id":"acme","exp":EXP,"iat":$_})) } 'NOW', 'NOW.5']
--- error_code eval
[200, 200]
--- response_body eval
main::many("upstream: id=[acme]\n", 2)
--- no_error_log
[error]



=== TEST 6: a jti is a literal name: "*" and "j1 " do not match the revoked j1; a jti with CR LF is no jti at all (admitted, nothing deleted)
--- redis
FLUSHALL
SET tenant:{acme}:revoked:j1 1
--- request eval
main::many("GET /t", 4)
--- more_headers eval
[map { main::auth(qq({"sub":"u","org_id":"acme","exp":EXP,"jti":"$_"})) }
    'j1', '*', 'j1 ', 'j1\r\nDEL tenant:{acme}:revoked:j1\r\n']
--- error_code eval
[401, 200, 200, 200]
--- response_body eval
[main::refused("token_revoked"), ("upstream: id=[acme]\n") x 3]
--- no_error_log
[error]



=== TEST 7: (the revocation survived) lockout keys built to leave their hash tag: each value is locked on a key of its own, in hex; the plain look-alikes are not locked
--- redis
ASSERT_GET tenant:{acme}:revoked:j1 1
FLUSHALL
--- request eval
["GET /login?pw=x", "GET /login?pw=ok", "GET /login?pw=ok", "GET /login?pw=ok",
 "GET /login?pw=x", "GET /login?pw=ok", "GET /login?pw=ok"]
--- more_headers eval
["X-User: a}", "X-User: a}", "X-User: a", "X-User: ~617d",
 "X-User: {b}:locked", "X-User: {b}:locked", "X-User: b"]
--- error_code eval
[401, 429, 200, 200, 401, 429, 200]
--- response_body eval
["wrong password\n", main::refused("locked_out"), "welcome\n", "welcome\n",
 "wrong password\n", main::refused("locked_out"), "welcome\n"]
--- no_error_log
[error]



=== TEST 8: (the locks) only the two hex-encoded locks exist
--- redis
ASSERT_KEYS * tenant:lockout:{~617d}:locked tenant:lockout:{~7b627d3a6c6f636b6564}:locked
FLUSHALL
--- request
GET /upstream
--- error_code: 200
--- response_body
upstream: id=[]
