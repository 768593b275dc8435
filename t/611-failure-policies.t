use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# Two failure policies when Redis does not answer: tenant_registry_failure
# decides for the registry (suspension, revocation), which every
# tenant_jwt location consults; tenant_redis_failure for the limits
# (tenant_limit, tenant_meter, keyed limits).  Unset, the registry's
# follows tenant_redis_failure where the request is.
#
#   registry  limits  limits here  answer
#   allow     allow   any          admitted
#   allow     deny    yes          503 limiter_unavailable
#   allow     deny    no           admitted
#   deny      allow   any          503 registry_unavailable
#   deny      deny    yes          503 limiter_unavailable
#   deny      deny    no           503 registry_unavailable
#
# Redis is "down" here: tenant_redis names a loopback port where nothing
# listens, so every decision fails at once.  A refused request keeps its
# identity ($tenant_id in X-Tenant) and sends no header upstream.

$ENV{TEST_NGINX_CLOSED_PORT} = TenantRedis::free_port();

our $HttpDown = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT timeout=500ms;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
_EOC_

our $HttpUp = <<'_EOC_';
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan pro rate=1000r/s burst=1000 quota=1000000/day;
    tenant_default_plan pro;
_EOC_

sub loc {
    my ($name, @lines) = @_;
    return "    location /$name {\n"
         . "        tenant_jwt on;\n"
         . join('', map { "        $_\n" } @lines)
         . "        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;\n"
         . "    }\n";
}

our $Config = <<'_EOC_'
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    add_header X-Tenant "[$tenant_id]" always;
    add_header X-Limit-Status "[$tenant_limit_status]" always;
    location /echo {
        add_header X-Echo yes;
        echo "upstream: id=[$http_x_tenant_id]";
    }
_EOC_
    . loc('aa', 'tenant_registry_failure allow;', 'tenant_redis_failure allow;',
          'tenant_limit on;')
    . loc('ad', 'tenant_registry_failure allow;', 'tenant_redis_failure deny;',
          'tenant_limit on;')
    . loc('ad-open', 'tenant_registry_failure allow;',
          'tenant_redis_failure deny;')
    . loc('da', 'tenant_registry_failure deny;', 'tenant_redis_failure allow;',
          'tenant_limit on;')
    . loc('da-open', 'tenant_registry_failure deny;',
          'tenant_redis_failure allow;')
    . loc('dd', 'tenant_registry_failure deny;', 'tenant_redis_failure deny;',
          'tenant_limit on;')
    . loc('dd-open', 'tenant_registry_failure deny;',
          'tenant_redis_failure deny;')
    . loc('follow-deny', 'tenant_redis_failure deny;')
    . loc('follow-allow', 'tenant_redis_failure allow;')
    . loc('da-select', 'tenant_registry_failure deny;',
          'tenant_redis_failure allow;', 'tenant_select $arg_org;')
    . loc('ad-select', 'tenant_registry_failure allow;',
          'tenant_redis_failure deny;', 'tenant_select $arg_org;');

our $Limiter = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
our $Registry = qq{{"error":"registry_unavailable","message":"the organization's status cannot be checked right now"}\n};

our $Up = "upstream: id=[acme]\n";

add_block_preprocessor(\&TenantRedis::redis_block);

run_tests();

__DATA__

=== TEST 1: Redis up: every location admits (baseline)
--- http_config eval: $::HttpUp
--- config eval: $::Config
--- redis
FLUSHALL
--- request eval
["GET /aa", "GET /ad", "GET /da", "GET /dd", "GET /da-open", "GET /dd-open"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body eval
[($::Up) x 6]
--- no_error_log
[error]



=== TEST 2: registry allow, limits allow: admitted, UNAVAILABLE
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request
GET /aa
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_headers
X-Limit-Status: [UNAVAILABLE]
--- response_body eval
$::Up



=== TEST 3: registry allow, limits deny, with limits: 503 limiter_unavailable, the identity kept, nothing upstream
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request
GET /ad
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_headers
X-Tenant: [acme]
Content-Type: application/json
--- response_body eval
$::Limiter
--- error_log
tenant: rejected with "limiter_unavailable"



=== TEST 4: registry allow, limits deny, no limits here: admitted
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request
GET /ad-open
--- more_headers eval
TenantTest::bearer()
--- error_code: 200
--- response_body eval
$::Up



=== TEST 5: registry deny, limits allow: 503 registry_unavailable, with limits or without, the identity kept
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request eval
["GET /da", "GET /da-open"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 503]
--- response_headers eval
[("X-Tenant: [acme]\nContent-Type: application/json\nCache-Control: no-store") x 2]
--- response_body eval
[$::Registry, $::Registry]
--- error_log
tenant: rejected with "registry_unavailable"



=== TEST 6: both deny: the limits' code where there are limits, the registry's where there are none
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request eval
["GET /dd", "GET /dd-open"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 503]
--- response_body eval
[$::Limiter, $::Registry]



=== TEST 7: tenant_registry_failure unset follows the location's tenant_redis_failure
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request eval
["GET /follow-deny", "GET /follow-allow"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[503, 200]
--- response_body eval
[$::Registry, $::Up]



=== TEST 8: unset at a level, the registry's policy follows that level's tenant_redis_failure, not the one inherited
--- http_config eval
$::HttpDown . "    tenant_redis_failure deny;\n"
--- config eval
$::Config . main::loc('own-allow', 'tenant_redis_failure allow;')
--- request eval
["GET /own-allow", "GET /follow-deny"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 503]
--- response_body eval
[$::Up, $::Registry]



=== TEST 9: tenant_registry_failure at the server level reaches the locations under it
--- http_config eval: $::HttpDown
--- config eval
"    tenant_registry_failure deny;\n" . $::Config
  . main::loc('inherit', 'tenant_redis_failure allow;')
--- request
GET /inherit
--- more_headers eval
TenantTest::bearer()
--- error_code: 503
--- response_body eval
$::Registry



=== TEST 10: another organization selected: the revocation check in the token's own tenant follows the registry's policy
--- http_config eval: $::HttpDown
--- config eval: $::Config
--- request eval
["GET /da-select?org=globex", "GET /ad-select?org=globex"]
--- more_headers eval
TenantTest::bearer(claims => { orgs => ['acme', 'globex'] })
--- error_code eval
[503, 200]
--- response_headers eval
["X-Tenant: [globex]", ""]
--- response_body eval
[$::Registry, "upstream: id=[globex]\n"]



=== TEST 11: tenant_registry_failure with an unknown value fails the configuration
--- http_config eval: $::HttpUp
--- config
    location /t {
        tenant_registry_failure maybe;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'invalid value "maybe"']



=== TEST 12: tenant_registry_failure twice at one level fails the configuration
--- http_config eval: $::HttpUp
--- config
    location /t {
        tenant_registry_failure deny;
        tenant_registry_failure allow;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_registry_failure" directive is duplicate']
