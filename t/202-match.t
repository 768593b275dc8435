use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# tenant_match VALUE: the request is admitted only if VALUE is exactly the
# tenant's ID (bytes, no case folding); anything else, the empty value
# included, is 403 "tenant_mismatch", before Redis counts anything.
#
# Path binding: location ~ ^/orgs/(?<org>[^/]+)/ { tenant_match $org; }.
# nginx matches locations against the URI it has already decoded and
# normalized ("%6D" is "m", "/x/../" is "/"), so $org is the organization
# the normalized path names; /raw/ binds the raw $request_uri instead,
# where nothing is decoded.  Host binding: a map from $host.
#
# Every token below is acme's (org_id=acme) unless a block says otherwise.
# An admitted request answers "admitted: ..."; a refused one gets the JSON
# error, so an exact body also proves nothing was served.

our $DefaultHttpConfig = <<'_EOC_';
    map $host $host_tenant {
        acme.example.com     acme;
        globex.example.com   globex;
        default              "";
    }

    map $request_uri $raw_org {
        "~^/raw/(?<o>[^/?]*)/"   $o;
        default                  "";
    }
_EOC_

our $DefaultConfig = <<'_EOC_';
    location ~ ^/orgs/(?<org>[^/]+)/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $org;
        echo "admitted: org=[$org] tenant=[$tenant_id] uri=[$uri]";
    }

    # what the regular expression above does not match: no $org here
    location /orgs/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $org;
        echo "admitted: org=[$org] tenant=[$tenant_id] uri=[$uri]";
    }

    location /raw/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $raw_org;
        echo "admitted: raw=[$raw_org] tenant=[$tenant_id]";
    }

    location /host {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $host_tenant;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location /arg {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $arg_tenant;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location /echo {
        echo "upstream: id=[$http_x_tenant_id]";
    }
_EOC_

our $Mismatch = qq{{"error":"tenant_mismatch","message":"the request names another organization"}\n};

sub admitted { "admitted: org=[acme] tenant=[acme] uri=[$_[0]]\n" }

add_block_preprocessor(\&TenantRedis::redis_block);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: path binding: the tenant's own organization is admitted
--- request eval
["GET /orgs/acme/", "GET /orgs/acme/projects/7", "GET /orgs/acme/projects?x=globex"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 200]
--- response_body eval
[main::admitted('/orgs/acme/'), main::admitted('/orgs/acme/projects/7'),
 main::admitted('/orgs/acme/projects')]
--- no_error_log
[error]
tenant: rejected



=== TEST 2: path binding: another tenant's ID is 403 tenant_mismatch, as JSON, logged at info
--- request
GET /orgs/globex/projects
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body eval
$main::Mismatch
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 3: path binding: letter case counts
--- request eval
["GET /orgs/ACME/projects", "GET /orgs/Acme/projects", "GET /orgs/acmE/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403]
--- response_body eval
[($main::Mismatch) x 3]
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 4: path binding: prefixes, suffixes and look-alikes of the ID are refused
--- request eval
["GET /orgs/acme2/", "GET /orgs/acm/", "GET /orgs/xacme/", "GET /orgs/acme-/",
 "GET /orgs/acme.old/", "GET /orgs/acme_/", "GET /orgs/.acme/", "GET /orgs/acme%20/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403, 403, 403, 403, 403, 403]
--- response_body eval
[($main::Mismatch) x 8]
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 5: path binding: a path that names no organization has an empty value: refused, not admitted
--- request eval
["GET /orgs/", "GET /orgs/acme", "GET /orgs/acme?x=/orgs/acme/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403]
--- response_body eval
[($main::Mismatch) x 3]
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 6: path binding: "/orgs/acme%2F../" and dot segments are normalized before the match, never to acme's benefit
--- request eval
["GET /orgs/acme%2F../", "GET /orgs/acme%2F../globex/projects",
 "GET /orgs/acme/../globex/projects", "GET /orgs/acme/%2E%2E/globex/x"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[($main::Mismatch) x 4]
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 7: path binding: nginx decodes and normalizes the URI before the location matches: "ac%6De" is acme, so are "globex%2F../acme" and "//acme"
--- request eval
["GET /orgs/ac%6De/projects", "GET /orgs/%61%63%6d%65/", "GET /orgs/globex%2F../acme/projects",
 "GET /orgs//acme/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[main::admitted('/orgs/acme/projects'), main::admitted('/orgs/acme/'),
 main::admitted('/orgs/acme/projects'), main::admitted('/orgs/acme/')]
--- no_error_log
[error]



=== TEST 8: raw binding ($request_uri): the encoded spellings are not the ID, only the exact bytes are
--- request eval
["GET /raw/ac%6De/", "GET /raw/acme%2F../x/", "GET /raw/%61cme/", "GET /raw/ACME/",
 "GET /raw//", "GET /raw/acme/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403, 403, 403, 200]
--- response_body eval
[($main::Mismatch) x 5, "admitted: raw=[acme] tenant=[acme]\n"]
--- no_error_log
[error]



=== TEST 9: the tenant from another claim (tenant_id_claim) is the one matched
--- config
    location ~ ^/orgs/(?<org>[^/]+)/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_id_claim organization.slug;
        tenant_match $org;
        echo "admitted: org=[$org] tenant=[$tenant_id]";
    }
--- request eval
["GET /orgs/globex/", "GET /orgs/acme/"]
--- more_headers eval
TenantTest::bearer(claims => {organization => {slug => 'globex'}})
--- error_code eval
[200, 403]
--- response_body eval
["admitted: org=[globex] tenant=[globex]\n", $main::Mismatch]
--- no_error_log
[error]



=== TEST 10: host binding: acme's host is admitted (the port and letter case of Host do not matter: $host is lowercased, without port)
--- request eval
["GET /host", "GET /host/x"]
--- more_headers eval
TenantTest::bearer() . "\nHost: ACME.Example.com:8443"
--- error_code eval
[200, 200]
--- response_body eval
[("upstream: id=[acme]\n") x 2]
--- no_error_log
[error]



=== TEST 11: host binding: acme's token on globex's host is refused
--- request
GET /host
--- more_headers eval
TenantTest::bearer() . "\nHost: globex.example.com"
--- error_code: 403
--- response_body eval
$main::Mismatch
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 12: host binding: an unknown host maps to "" and is refused
--- request
GET /host
--- more_headers eval
TenantTest::bearer() . "\nHost: acme.example.com.evil.test"
--- error_code: 403
--- response_body eval
$main::Mismatch
--- error_log
tenant: rejected with "tenant_mismatch"
--- no_error_log
[error]



=== TEST 13: host binding: globex's token on globex's host is admitted
--- request
GET /host
--- more_headers eval
TenantTest::bearer(claims => {org_id => 'globex'}) . "\nHost: globex.example.com"
--- error_code: 200
--- response_body eval
"upstream: id=[globex]\n"
--- no_error_log
[error]



=== TEST 14: an empty value is never a match (no argument, an empty one); arguments stay encoded: "ac%6De" is not acme
--- request eval
["GET /arg", "GET /arg?tenant=", "GET /arg?tenant=globex", "GET /arg?tenant=ac%6De",
 "GET /arg?tenant=acme+", "GET /arg?tenant=acme"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 403, 403, 403, 200]
--- response_body eval
[($main::Mismatch) x 5, "upstream: id=[acme]\n"]
--- no_error_log
[error]



=== TEST 15: a literal empty value refuses every tenant
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match "";
        echo "admitted: tenant=[$tenant_id]";
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer()
--- error_code: 403
--- response_body eval
$main::Mismatch
--- error_log
tenant: rejected with "tenant_mismatch"



=== TEST 16: a server-level tenant_match applies to every location; a location may bind another value
--- config
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_match $arg_tenant;

    location /inherit {
        echo "admitted: tenant=[$tenant_id]";
    }
    location /own {
        tenant_match $http_x_expected_tenant;
        echo "admitted: tenant=[$tenant_id]";
    }
--- request eval
["GET /inherit?tenant=acme", "GET /inherit?tenant=globex", "GET /own?tenant=acme"]
--- more_headers eval
TenantTest::bearer() . "\nX-Expected-Tenant: acme"
--- error_code eval
[200, 403, 200]
--- response_body eval
["admitted: tenant=[acme]\n", $main::Mismatch, "admitted: tenant=[acme]\n"]
--- no_error_log
[error]



=== TEST 17: with Redis, a mismatch counts nothing: two refusals, then the quota counter is at 1
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan pro quota=5/day;
--- config
    location ~ ^/orgs/(?<org>[^/]+)/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_match $org;
        add_header X-Used "[$tenant_quota_used]" always;
        echo "admitted: org=[$org] tenant=[$tenant_id]";
    }
--- redis
FLUSHALL
--- request eval
["GET /orgs/globex/", "GET /orgs/initech/", "GET /orgs/acme/"]
--- more_headers eval
TenantTest::bearer()
--- error_code eval
[403, 403, 200]
--- response_headers eval
["X-Quota-Limit: ", "X-Quota-Limit: ", "X-Used: [1]\nX-Quota-Limit: 5\nX-Quota-Remaining: 4"]
--- response_body eval
[$main::Mismatch, $main::Mismatch, "admitted: org=[acme] tenant=[acme]\n"]
--- no_error_log
[error]



=== TEST 18: nginx -t: tenant_match is not for the http level
--- http_config
    tenant_match $arg_tenant;
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "admitted";
    }
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_match" directive is not allowed here']
