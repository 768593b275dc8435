use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

# conf.d/login.conf, conf.d/multi-org.conf and conf.d/tenant-paths.conf run
# here as they are shipped, like the other examples in t/060 and t/061,
# with only their placeholders replaced: key files under
# /etc/nginx/tenant/ by the fixtures in t/data, "listen 8080" by a port
# next to the test server's, the upstream 127.0.0.1:8081 by the test
# server itself, and the Redis at 127.0.0.1:6379 by the one TenantRedis
# started for this file.
#
# A request goes   client -> test server /gw/...   (--- config, below)
#                         -> the example's server  (--- http_config)
#                         -> test server /...      (the example's upstream)
# The first hop passes the client's Host header and the path exactly as
# the client sent it (not as nginx normalized it), so that the example
# sees what a client would send it.  The last hop answers with the request
# line and headers it received; /login there plays the application's login
# check: 401 unless the test says X-Test-Password: right.
#
# Blocks that use Redis start from an empty one (FLUSHALL in their
# --- redis section); a block may first assert what the previous block's
# requests left in Redis (ASSERT_KEYS pattern key ...).  Only the previous
# block's: a --- redis section runs right after those requests, but a key
# of the per-member zone lasts 1.1 s after a request, and the real
# Test::Nginx can take a second or two to restart nginx for the next block.

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = $Test::Nginx::Util::ServerPort + 1;
our $REDIS = $ENV{TEST_NGINX_REDIS_PORT};

sub example {
    my ($file) = @_;

    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $port = $Test::Nginx::Util::ServerPort;

    $conf =~ s{/etc/nginx/tenant/}{$ENV{TEST_NGINX_DATA_DIR}/}g;
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$port}g
        or die "$file: no upstream 127.0.0.1:8081\n";
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g
        or die "$file: no \"listen 8080;\"\n";
    $conf =~ s{\b127\.0\.0\.1:6379\b}{127.0.0.1:$REDIS}g;
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;

    # Under valgrind a request takes longer than the example's 50ms from
    # the moment nginx sets its deadline to the script's run in Redis, and
    # a block longer than the 1.1 s for which the per-member zone keeps a
    # key after one request (an emission interval at 10r/s and a second):
    # there Redis gets 2s, and the zone allows 1r/m (burst=20 still admits
    # every request here; a key then lasts 61 s), so that TEST 6 and
    # TEST 7 still find the key the block before each left.
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        $conf =~ s{^(\s*tenant_redis\s.*\btimeout=)50ms;}{${1}2s;}m
            or $conf !~ /^\s*tenant_redis\s/m
            or die "$file: no tenant_redis timeout=50ms\n";
        $conf =~ s{(\bper_member\b.*?\brate=)10r/s\b}{${1}1r/m}
            or $conf !~ /\bper_member\b/
            or die "$file: no per_member zone at 10r/s\n";
    }

    # the first hop's raw path, less its /gw prefix
    return $conf . <<'_EOC_';

    map $request_uri $gw_raw_uri {
        ~^/gw(?<gw_rest>/.*)$  $gw_rest;
        default                /;
    }
_EOC_
}

sub front {
    return <<"_EOC_";
    location /gw/ {
        proxy_set_header Host \$http_host;
        proxy_pass http://127.0.0.1:$GW\$gw_raw_uri;
    }

    location = /login {
        if (\$http_x_test_password != "right") {
            return 401 "wrong password\\n";
        }
        echo "welcome [\$arg_username]";
    }

    location / {
        echo \$echo_client_request_headers;
    }
_EOC_
}

sub rs_bearer {
    my (%claims) = @_;
    return "Authorization: Bearer "
           . TenantTest::jwt(alg => 'RS256', claims => \%claims);
}

# a user of acme (owner, pro) who is also an editor of globex (free) and a
# member of initech by bare ID
our @Orgs = ({ id => 'acme', role => 'owner', plan => 'pro' },
             { id => 'globex', role => 'editor', plan => 'free',
               permissions => ['docs:read'] },
             'initech');

sub member { rs_bearer(sub => 'u-42', org_id => 'acme', role => 'owner', plan => 'pro',
                    orgs => \@Orgs, @_) }

our $Locked = qq{{"error":"locked_out","message":"too many failed attempts, try again later"}\n};
our $RateLimited = qq{{"error":"rate_limited","message":"too many requests for this organization's plan"}\n};
our $NotMember = qq{{"error":"not_a_member","message":"you are not a member of that organization"}\n};
our $Role = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};
our $Mismatch = qq{{"error":"tenant_mismatch","message":"the request names another organization"}\n};
our $Wrong = "wrong password\n";

add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;
    return unless $block->{redis};
    for my $line (split /\n/, $block->{redis}[0]) {
        next unless $line =~ /\S/;
        eval {
            if ($line =~ /^\s*ASSERT_KEYS\s+(\S+)\s*(.*?)\s*$/) {
                my ($pattern, @want) = ($1, split ' ', $2);
                my $got = TenantRedis::redis('KEYS', $pattern);
                Test::More::is_deeply([sort @$got], [sort @want],
                                      "$name - redis: KEYS $pattern");
            } else {
                TenantRedis::redis_block({ redis => [$line] });
            }
            1;
        } or Test::More::fail("$name - redis: $line: $@");
    }
});

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: login.conf: the right password reaches the application and logs in
--- http_config eval: main::example('login.conf')
--- config eval: main::front()
--- redis
FLUSHALL
--- request
POST /gw/login?username=alice
password=right
--- more_headers
X-Test-Password: right
--- error_code: 200
--- response_body
welcome [alice]
--- no_error_log
[error]
tenant: rejected



=== TEST 2: login.conf: 5 wrong passwords for one account lock it: the right one is then refused with 429 locked_out for 15 minutes; another account still logs in
--- http_config eval: main::example('login.conf')
--- config eval: main::front()
--- redis
FLUSHALL
--- request eval
[("POST /gw/login?username=alice\npassword=guess") x 6, "POST /gw/login?username=bob\npassword=right"]
--- more_headers eval
[("X-Test-Password: wrong") x 5, ("X-Test-Password: right") x 2]
--- error_code eval
[401, 401, 401, 401, 401, 429, 200]
--- response_headers_like eval
[("Retry-After: ") x 5, "Retry-After: (?:899|900)\nContent-Type: application/json", "Retry-After: "]
--- response_body eval
[($main::Wrong) x 5, $main::Locked, "welcome [bob]\n"]
--- no_error_log
[error]



=== TEST 3: (the lock is PREFIX lockout:{alice}:locked; the client address has its bucket) login.conf refuses a missing or non-canonical user name with 400 before anything is counted
--- redis
ASSERT_KEYS * tenant:lockout:{alice}:locked tenant:zone:login_ip:{~7f000001}
FLUSHALL
--- http_config eval: main::example('login.conf')
--- config eval: main::front()
--- request eval
["POST /gw/login\npassword=guess", "POST /gw/login?username=\npassword=guess",
 "POST /gw/login?username=Alice\npassword=guess", "POST /gw/login?username=%61lice\npassword=guess",
 "POST /gw/login?username=al%20ice\npassword=guess"]
--- more_headers
X-Test-Password: wrong
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[("username required\n") x 5]
--- no_error_log
[error]



=== TEST 4: (nothing in Redis) login.conf lets one client address make 11 attempts at once across accounts, then 429 rate_limited for 6 s; the reset page shares the bucket
--- redis
ASSERT_KEYS *
FLUSHALL
--- http_config eval: main::example('login.conf')
--- config eval: main::front()
--- request eval
[(map { "POST /gw/login?username=user$_\npassword=x" } 1 .. 10), "POST /gw/password-reset\nemail=x", "POST /gw/login?username=user12\npassword=x", "POST /gw/password-reset\nemail=x"]
--- more_headers
X-Test-Password: right
--- error_code eval
[(200) x 11, 429, 429]
--- response_headers_like eval
[("Retry-After: ") x 11, "Retry-After: [56]", "Retry-After: [56]"]
--- response_body_like eval
[(map { "\\Awelcome \\[user$_\\]\\n\\z" } 1 .. 10), "POST /password-reset HTTP/1.1",
 "\\A\\{\"error\":\"rate_limited\"", "\\A\\{\"error\":\"rate_limited\""]
--- no_error_log
[error]



=== TEST 5: multi-org.conf: without X-Organization-ID the token's own organization, role and plan apply; forged X-Tenant-* headers are dropped
--- http_config eval: main::example('multi-org.conf')
--- config eval: main::front()
--- redis
FLUSHALL
--- request
GET /gw/api/projects
--- more_headers eval
main::member() . "\nX-Tenant-ID: evil\nX-Tenant-Role: owner"
--- error_code: 200
--- response_body_like
\A(?!.*: evil\r).*
X-Tenant-ID: acme\r
X-Tenant-User: u-42\r
X-Tenant-Role: owner\r
X-Tenant-Plan: pro\r
--- no_error_log
[error]
tenant: rejected



=== TEST 6: (the per-member zone keys on organization and user: acme:u-42) multi-org.conf: X-Organization-ID: globex acts for globex, with the membership's role, plan and permissions
--- redis
ASSERT_KEYS * tenant:zone:per_member:{acme:u-42}
FLUSHALL
--- http_config eval: main::example('multi-org.conf')
--- config eval: main::front()
--- request
GET /gw/api/projects
--- more_headers eval
main::member() . "\nX-Organization-ID: globex"
--- error_code: 200
--- response_body_like
X-Tenant-ID: globex\r
X-Tenant-User: u-42\r
X-Tenant-Role: editor\r
X-Tenant-Plan: free\r
X-Tenant-Permissions: docs:read\r
--- no_error_log
[error]
tenant: rejected



=== TEST 7: (and the organization selected: globex:u-42, a key of its own) multi-org.conf refuses an organization the token does not list
--- redis
ASSERT_KEYS * tenant:zone:per_member:{globex:u-42}
FLUSHALL
--- http_config eval: main::example('multi-org.conf')
--- config eval: main::front()
--- request
GET /gw/api/projects
--- more_headers eval
main::member() . "\nX-Organization-ID: umbrella"
--- error_code: 403
--- response_body eval
$main::NotMember
--- error_log
tenant: rejected with "not_a_member": selected organization is not one of the token's



=== TEST 8: multi-org.conf: settings are for admins and owners of the organization chosen: owner of acme yes, editor of globex no, bare member of initech no
--- http_config eval: main::example('multi-org.conf')
--- config eval: main::front()
--- request eval
["GET /gw/api/settings/billing", "GET /gw/api/settings/billing", "GET /gw/api/settings/billing", "GET /gw/api/projects"]
--- more_headers eval
[main::member() . "\nX-Organization-ID: acme", main::member() . "\nX-Organization-ID: globex",
 main::member() . "\nX-Organization-ID: initech", main::member() . "\nX-Organization-ID: initech"]
--- error_code eval
[200, 403, 403, 403]
--- response_body_like eval
["X-Tenant-ID: acme\r\nX-Tenant-User: u-42\r\nX-Tenant-Role: owner\r\n",
 "\\A\Q$main::Role\E\\z", "\\A\Q$main::Role\E\\z", "\\A\Q$main::Role\E\\z"]
--- no_error_log
[error]



=== TEST 9: multi-org.conf answers health checks without a token
--- http_config eval: main::example('multi-org.conf')
--- config eval: main::front()
--- request
GET /gw/healthz
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]
tenant: rejected



=== TEST 10: tenant-paths.conf admits /orgs/acme/... for a caller of acme; the application gets the path and X-Tenant-ID
--- http_config eval: main::example('tenant-paths.conf')
--- config eval: main::front()
--- request
GET /gw/orgs/acme/projects?page=2
--- more_headers eval
main::rs_bearer(org_id => 'acme')
--- error_code: 200
--- response_body_like
\AGET /orgs/acme/projects\?page=2 HTTP/1.1\r
(?s:.*)X-Tenant-ID: acme\r
--- no_error_log
[error]
tenant: rejected



=== TEST 11: tenant-paths.conf refuses another organization's path, and another spelling of the caller's
--- http_config eval: main::example('tenant-paths.conf')
--- config eval: main::front()
--- request eval
["GET /gw/orgs/globex/projects", "GET /gw/orgs/ACME/projects", "GET /gw/orgs/acme%2F..%2Fglobex/projects",
 "GET /gw/orgs/ac%6De/projects"]
--- more_headers eval
main::rs_bearer(org_id => 'acme')
--- error_code eval
[403, 403, 403, 200]
--- response_body_like eval
["\\A\Q$main::Mismatch\E\\z", "\\A\Q$main::Mismatch\E\\z", "\\A\Q$main::Mismatch\E\\z",
 "\\AGET /orgs/acme/projects HTTP/1.1\r\n"]
--- no_error_log
[error]



=== TEST 12: tenant-paths.conf checks the path as nginx reads it, and sends the application that reading: /orgs/globex/../acme/x reaches it as /orgs/acme/x
--- http_config eval: main::example('tenant-paths.conf')
--- config eval: main::front()
--- request eval
["GET /gw/orgs/globex/../acme/x", "GET /gw/orgs/acme/../globex/x", "GET /gw/orgs/acme/a%20b%3Fc"]
--- more_headers eval
main::rs_bearer(org_id => 'acme')
--- error_code eval
[200, 403, 200]
--- response_body_like eval
["\\AGET /orgs/acme/x HTTP/1.1\r\n", "\\A\Q$main::Mismatch\E\\z", "\\AGET /orgs/acme/a%20b%3Fc HTTP/1.1\r\n"]
--- no_error_log
[error]



=== TEST 13: tenant-paths.conf binds the host: acme.app.example.com for acme (any case, any port), not globex.app.example.com
--- http_config eval: main::example('tenant-paths.conf')
--- config eval: main::front()
--- request eval
["GET /gw/dashboard", "GET /gw/dashboard", "GET /gw/dashboard", "GET /gw/dashboard"]
--- more_headers eval
["Host: acme.app.example.com\n" . main::rs_bearer(org_id => 'acme'),
 "Host: ACME.App.Example.com:8443\n" . main::rs_bearer(org_id => 'acme'),
 "Host: globex.app.example.com\n" . main::rs_bearer(org_id => 'acme'),
 "Host: acme.app.example.com\n" . main::rs_bearer(org_id => 'globex')]
--- error_code eval
[200, 200, 403, 403]
--- response_body_like eval
["\\AGET /dashboard HTTP/1.1\r\n(?s:.*)X-Tenant-ID: acme\r\n", "X-Tenant-ID: acme\r\n",
 "\\A\Q$main::Mismatch\E\\z", "\\A\Q$main::Mismatch\E\\z"]
--- no_error_log
[error]



=== TEST 14: tenant-paths.conf: a host of the app domain that names no organization never matches; the path server's other paths need only a token
--- http_config eval: main::example('tenant-paths.conf')
--- config eval: main::front()
--- request eval
["GET /gw/dashboard", "GET /gw/status", "GET /gw/status"]
--- more_headers eval
["Host: a.b.app.example.com\n" . main::rs_bearer(org_id => 'acme'),
 "Host: api.example.com\n" . main::rs_bearer(org_id => 'acme'),
 "Host: api.example.com"]
--- error_code eval
[403, 200, 401]
--- response_body_like eval
["\\A\Q$main::Mismatch\E\\z", "\\AGET /status HTTP/1.1\r\n", "\"error\":\"missing_token\""]
--- no_error_log
[error]
