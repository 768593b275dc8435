use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# Tenant administration in the registry: a user signed out everywhere
# (tenant:{ID}:user:SUB, field tokens_valid_after), and overrides in the
# tenant's hash that the module cannot use (a plan no tenant_plan
# declares, a value that does not parse): logged at warn, at most once a
# minute per tenant and field in a worker, and ignored, the token's plan
# or the plan's value applying instead.  Every block starts from an empty
# Redis (FLUSHALL in its --- redis section); 4102444800, in 2100, is a
# tokens_valid_after every token was issued before.
#
# A block of several requests checks the error log after each one, so a
# line logged once a minute is counted in requests sent on one connection
# (--- raw_request), which the runners see as one.
#
# X-Tenant, X-User and X-Plan show $tenant_id, $tenant_user and
# $tenant_plan, on refused requests too; /echo answers with the headers
# the upstream received, so an exact body also proves /echo was reached.

our $DefaultHttpConfig = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free rate=100r/s burst=100 quota=1000/day;
    tenant_plan pro rate=100r/s burst=100 quota=3/day meter=reports:2/day;
    tenant_default_plan free;
_EOC_

our $Echo = <<'_EOC_';
    location /echo {
        add_header X-Echo yes;
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] plan=[$http_x_tenant_plan]";
    }
_EOC_

# /t is limited, /open is not, /reports has a meter, /pro needs pro,
# /sel selects the organization named by ?org=
our $DefaultConfig = <<'_EOC_' . $Echo;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    add_header X-Tenant "[$tenant_id]" always;
    add_header X-User "[$tenant_user]" always;
    add_header X-Plan "[$tenant_plan]" always;

    location /t {
        tenant_jwt on;
        tenant_limit on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /reports {
        tenant_jwt on;
        tenant_meter reports;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /pro {
        tenant_jwt on;
        tenant_require_plan pro;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /sel {
        tenant_jwt on;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_

our $Revoked = qq{{"error":"token_revoked","message":"the token has been revoked"}\n};
our $Quota = qq{{"error":"quota_exceeded","message":"the organization's quota for this period is used up"}\n};
our $PlanRequired = qq{{"error":"plan_required","message":"the organization's plan does not include this"}\n};

sub up {
    my %h = (id => 'acme', user => 'user-1', plan => 'pro', @_);
    return "upstream: id=[$h{id}] user=[$h{user}] plan=[$h{plan}]\n";
}

sub token { TenantTest::bearer(claims => { iat => time(), @_ }) }

# the token of a user in acme (pro) who also belongs to globex
sub member { token(orgs => ['acme', { id => 'globex', plan => 'free' }], @_) }

# the requests on one connection, the last one closing it
sub pipelined {
    my @paths = @_;
    my $auth = TenantTest::bearer(claims => { iat => time() });
    my $raw = '';
    for my $i (0 .. $#paths) {
        $raw .= "GET $paths[$i] HTTP/1.1\r\nHost: localhost\r\n$auth\r\n"
              . ($i == $#paths ? "Connection: close\r\n" : '') . "\r\n";
    }
    return $raw;
}

# an ignored override's warn line, as grep_error_log extracts it
sub ignored {
    my ($field, $value) = @_;
    return qq{registry field "$field" of tenant "acme" is "$value", which does not parse: ignored\n};
}

add_block_preprocessor(sub {
    my $block = shift;

    # quota counters are named by the UTC day: never straddle midnight
    my $left = 86400 - time % 86400;
    sleep $left + 1 if $left <= 8;

    TenantRedis::redis_block($block);

    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a user signed out everywhere: that user's tokens issued before tokens_valid_after are refused 401 token_revoked, with the identity kept
--- redis
FLUSHALL
HSET tenant:{acme}:user:user-1 tokens_valid_after 4102444800
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
main::token()
--- error_code eval
[401, 401]
--- response_headers eval
[("WWW-Authenticate: Bearer error=\"invalid_token\"\nX-Tenant: [acme]\nX-User: [user-1]\nX-Plan: [pro]") x 2]
--- response_body eval
[$::Revoked, $::Revoked]
--- error_log
tenant: rejected with "token_revoked"
--- no_error_log
[error]
[warn]



=== TEST 2: the user's other tenant members are not signed out
--- redis
FLUSHALL
HSET tenant:{acme}:user:user-1 tokens_valid_after 4102444800
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
main::token(sub => 'user-2')
--- error_code eval
[200, 200]
--- response_body eval
[main::up(user => 'user-2'), main::up(user => 'user-2')]
--- no_error_log
[error]
[warn]



=== TEST 3: a token issued after the user's tokens_valid_after is admitted; one issued before, or without iat, is not
--- redis
FLUSHALL
HSET tenant:{acme}:user:user-1 tokens_valid_after 1000000000
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::token(), main::token(iat => 999999999), main::token(iat => undef)]
--- error_code eval
[200, 401, 401]
--- response_body eval
[main::up(), $::Revoked, $::Revoked]
--- no_error_log
[error]



=== TEST 4: the user's hash is per tenant: signed out in globex, the user still works in acme
--- redis
FLUSHALL
HSET tenant:{globex}:user:user-1 tokens_valid_after 4102444800
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::token(), main::token(org_id => 'globex', plan => 'free')]
--- error_code eval
[200, 401]
--- response_body eval
[main::up(), $::Revoked]
--- no_error_log
[error]



=== TEST 5: a token without a user is not checked against any user's hash
--- redis
FLUSHALL
HSET tenant:{acme}:user: tokens_valid_after 4102444800
HSET tenant:{acme} plan pro
--- request
GET /t
--- more_headers eval
main::token(sub => undef)
--- error_code: 200
--- response_body eval
main::up(user => '')
--- no_error_log
[error]



=== TEST 6: the tenant-level tokens_valid_after still signs every user out
--- redis
FLUSHALL
HSET tenant:{acme} tokens_valid_after 4102444800
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::token(), main::token(sub => 'user-2')]
--- error_code eval
[401, 401]
--- no_error_log
[error]



=== TEST 7: a user signed out in the token's own tenant stays signed out when another organization is selected
--- redis
FLUSHALL
HSET tenant:{acme}:user:user-1 tokens_valid_after 4102444800
--- request eval
["GET /sel?org=globex", "GET /sel?org=globex"]
--- more_headers eval
[main::member(), main::member(sub => 'user-2')]
--- error_code eval
[401, 200]
--- response_body eval
[$::Revoked, main::up(id => 'globex', user => 'user-2', plan => 'free')]
--- no_error_log
[error]



=== TEST 8: a user signed out in the selected organization is refused there, not in the token's own
--- redis
FLUSHALL
HSET tenant:{globex}:user:user-1 tokens_valid_after 4102444800
--- request eval
["GET /sel?org=globex", "GET /sel"]
--- more_headers eval
main::member()
--- error_code eval
[401, 200]
--- response_headers eval
["X-Tenant: [globex]\nX-User: [user-1]", "X-Tenant: [acme]"]
--- no_error_log
[error]



=== TEST 9: a plan in the hash that no tenant_plan declares is ignored: the token's plan applies and $tenant_plan says so, with a warn line
--- redis
FLUSHALL
HSET tenant:{acme} plan gold
--- request
GET /t
--- more_headers eval
main::token()
--- error_code: 200
--- response_headers
X-Plan: [pro]
X-Quota-Limit: 3
--- response_body eval
main::up()
--- error_log eval
qr/\[warn\] .*tenant: registry field "plan" of tenant "acme" names "gold", which no "tenant_plan" declares: ignored/
--- no_error_log
[error]



=== TEST 10: what was ignored is logged once a minute per tenant and field, not once a request (four requests on one connection)
--- redis
FLUSHALL
HSET tenant:{acme} plan gold quota 50/dya
--- raw_request eval
main::pipelined('/t', '/t', '/open', '/t')
--- ignore_response
--- grep_error_log eval
qr/registry field "[^"]+" of tenant "acme" .*?: ignored/
--- grep_error_log_out eval
qq{registry field "plan" of tenant "acme" names "gold", which no "tenant_plan" declares: ignored\n}
  . main::ignored('quota', '50/dya')
--- no_error_log
[error]



=== TEST 11: a quota in the hash that does not parse is ignored: the plan's quota of 3 applies
--- redis
FLUSHALL
HSET tenant:{acme} quota 50/dya
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
main::token()
--- error_code eval
[200, 200, 200, 429]
--- response_body eval
[(main::up()) x 3, $::Quota]
--- response_headers eval
[("X-Quota-Limit: 3\nX-Plan: [pro]") x 4]
--- no_error_log
[error]



=== TEST 12: "none" lifts a limit, as documented, without a warning
--- redis
FLUSHALL
HSET tenant:{acme} quota none rate none
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
main::token()
--- error_code eval
[200, 200, 200, 200]
--- no_error_log
[warn]
[error]



=== TEST 13: a rate, a burst and a meter that do not parse: the plan's values apply
--- redis
FLUSHALL
HSET tenant:{acme} rate fast burst lots meter:reports 5/fortnight
--- request eval
["GET /reports", "GET /reports", "GET /reports", "GET /t"]
--- more_headers eval
main::token()
--- error_code eval
[200, 200, 429, 200]
--- response_body eval
[(main::up()) x 2, $::Quota, main::up()]
--- response_headers eval
["", "", "", "RateLimit-Limit: 100"]
--- no_error_log
[error]



=== TEST 14: a rate, a burst and a meter that do not parse: each field named
--- redis
FLUSHALL
HSET tenant:{acme} rate fast burst lots meter:reports 5/fortnight
--- request
GET /reports
--- more_headers eval
main::token()
--- error_code: 200
--- grep_error_log eval
qr/registry field "[^"]+" of tenant "acme" is "[^"]*", which does not parse: ignored/
--- grep_error_log_out eval
main::ignored('rate', 'fast') . main::ignored('burst', 'lots')
  . main::ignored('meter:reports', '5/fortnight')
--- no_error_log
[error]



=== TEST 15: a refusal by tenant_require_plan reports what was ignored too
--- redis
FLUSHALL
HSET tenant:{acme} plan gold
--- request
GET /pro
--- more_headers eval
main::token(plan => 'free')
--- error_code: 403
--- response_headers
X-Tenant: [acme]
X-Plan: [free]
--- response_body eval
$::PlanRequired
--- error_log eval
qr/\[warn\] .*registry field "plan" of tenant "acme" names "gold"/
--- no_error_log
[error]



=== TEST 16: a value with quotes and control characters is logged escaped, a long one cut
--- redis
FLUSHALL
--- init
TenantRedis::redis('HSET', 'tenant:{acme}', 'quota', qq{1"2\n3\\4},
                   'burst', 'x' x 100);
--- request
GET /t
--- more_headers eval
main::token()
--- error_code: 200
--- grep_error_log eval
qr/registry field "[^"]+" of tenant "acme" is "[^"]*", which does not parse: ignored/
--- grep_error_log_out eval
main::ignored('burst', ('x' x 64) . '...') . main::ignored('quota', '1\x222\x0a3\x5c4')
--- no_error_log
[error]



=== TEST 17: a valid override is used, and nothing is logged
--- redis
FLUSHALL
HSET tenant:{acme} plan free quota 2/day burst 5
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
main::token()
--- error_code eval
[200, 200, 429]
--- response_headers eval
[("X-Plan: [free]\nX-Quota-Limit: 2") x 3]
--- no_error_log
[warn]
[error]
