use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;
use Time::Local qw(timegm);

no_shuffle();

# Organization switching: tenant_select $http_x_organization_id.  A user
# who belongs to several organizations carries them in the "orgs" claim
# (tenant_orgs_claim names another), as IDs or as objects
# {"id", "role", "plan", "permissions"}.  With a non-empty selection the
# tenant is that organization if the token lists it, with the role, plan
# and permissions of that membership only (a bare ID carries none);
# otherwise 403 "not_a_member".  With an empty selection the tenant claim
# (org_id) applies as usual.
#
# /echo answers with the trusted headers it received; a refused request
# gets the module's JSON error instead, so an exact --- response_body also
# proves that /echo was never reached.  X-Tenant and X-Role show the
# $tenant_id and $tenant_role variables (empty on a request refused
# before its identity is known, as not_a_member is; a request refused by
# the limits keeps it).  Blocks with Redis start from an
# empty Redis (FLUSHALL in their --- redis section).

our $Echo = <<'_EOC_';
    location /echo {
        echo "upstream: id=[$http_x_tenant_id] user=[$http_x_tenant_user] role=[$http_x_tenant_role] plan=[$http_x_tenant_plan] permissions=[$http_x_tenant_permissions]";
    }
_EOC_

our $DefaultConfig = <<'_EOC_' . $Echo;
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        add_header X-Tenant "[$tenant_id]" always;
        add_header X-Role "[$tenant_role]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_

our $NotMember = qq{{"error":"not_a_member","message":"you are not a member of that organization"}\n};
our $InvalidTenant = qq{{"error":"invalid_tenant","message":"the token's tenant ID is not valid"}\n};
our $Claims = qq{{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}\n};
our $Role = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};
our $Mismatch = qq{{"error":"tenant_mismatch","message":"the request names another organization"}\n};
our $Perm = qq{{"error":"insufficient_permission","message":"a permission this action needs is missing"}\n};
our $Plan = qq{{"error":"plan_required","message":"the organization's plan does not include this"}\n};
our $Suspended = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};

sub up {
    my %h = (id => 'acme', user => 'user-1', role => '', plan => '',
             permissions => '', @_);
    return "upstream: id=[$h{id}] user=[$h{user}] role=[$h{role}] "
         . "plan=[$h{plan}] permissions=[$h{permissions}]\n";
}

# the token of a user in acme (org_id, admin, pro) who also belongs to
# globex as an editor on starter and to initech by bare ID
our @Orgs = ('acme', { id => 'globex', role => 'editor', plan => 'starter',
                       permissions => ['posts:write', 'posts:read'] },
             'initech');

sub member { TenantTest::bearer(claims => { orgs => \@Orgs, @_ }) }

sub day {
    my @t = gmtime time;
    return sprintf('%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3]);
}

# "--- redis" may also hold "ASSERT_GET key value|nil", checked when the
# block starts (after the previous block's requests); %DAY% is today (UTC)
add_block_preprocessor(sub {
    my $block = shift;
    my $name = $block->name;

    # counter keys are named by the UTC day: never straddle midnight
    my $left = 86400 - time % 86400;
    sleep $left + 1 if $left <= 8;

    my $cmds = $block->{redis} ? $block->{redis}[0] : undef;
    return unless defined $cmds;

    for my $line (split /\n/, $cmds) {
        next unless $line =~ /\S/;
        $line =~ s/%DAY%/day()/ge;
        if ($line =~ /^\s*ASSERT_GET\s+(\S+)\s+(\S+)\s*$/) {
            my $got = TenantRedis::redis('GET', $1);
            Test::More::is(defined $got ? $got : 'nil', $2,
                           "$name - redis: GET $1");
            next;
        }
        TenantRedis::redis_block({ redis => [$line] });
    }
});

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: member by bare ID: the tenant becomes that organization, with no role, plan or permissions
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: initech"
--- error_code: 200
--- response_headers
X-Tenant: [initech]
X-Role: []
--- response_body eval
main::up(id => 'initech')
--- no_error_log
[error]



=== TEST 2: member by object: role, plan and permissions come from that membership, not from the token's top level
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: globex"
--- error_code: 200
--- response_headers
X-Tenant: [globex]
X-Role: [editor]
--- response_body eval
main::up(id => 'globex', role => 'editor', plan => 'starter', permissions => 'posts:write,posts:read')
--- no_error_log
[error]



=== TEST 3: selecting the tenant claim's own organization listed by bare ID: the membership applies (no role), not the top-level claims
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: acme"
--- error_code: 200
--- response_body eval
main::up(id => 'acme')
--- no_error_log
[error]



=== TEST 4: no selection header: the tenant claim and the top-level role, plan and permissions apply
--- request
GET /t
--- more_headers eval
main::member(permissions => ['billing:read'])
--- error_code: 200
--- response_headers
X-Tenant: [acme]
X-Role: [admin]
--- response_body eval
main::up(role => 'admin', plan => 'pro', permissions => 'billing:read')
--- no_error_log
[error]



=== TEST 5: an empty selection header is no selection
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: "
--- error_code: 200
--- response_body eval
main::up(role => 'admin', plan => 'pro')
--- no_error_log
[error]



=== TEST 6: an organization the token does not list: 403 not_a_member, as JSON, logged at info
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: umbrella"
--- error_code: 403
--- response_headers
Content-Type: application/json
X-Tenant: []
--- response_body eval
$main::NotMember
--- error_log
tenant: rejected with "not_a_member"
--- no_error_log
[error]



=== TEST 7: membership IDs are exact: letter case counts
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: Globex"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 8: membership IDs are exact: a prefix of a member's ID
--- request
GET /t
--- more_headers eval
main::member() . "\nX-Organization-Id: glob"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 9: a token without an orgs claim and a selection: not_a_member
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::NotMember
--- error_log
tenant: rejected with "not_a_member"
--- no_error_log
[error]



=== TEST 10: a token without an orgs claim selecting its own org_id: not_a_member too
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "\nX-Organization-Id: acme"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 11: a token without a tenant claim may still select one of its organizations
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- more_headers eval
main::member(org_id => undef) . "\nX-Organization-Id: globex"
--- request
GET /t
--- error_code: 200
--- response_body eval
main::up(id => 'globex', role => 'editor', plan => 'starter', permissions => 'posts:write,posts:read')
--- no_error_log
[error]



=== TEST 12: an orgs claim that is not an array (a string) lists no organization
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {orgs => 'globex'}) . "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 13: an orgs object keyed by ID is not a list of memberships either
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {orgs => {globex => {role => 'owner'}}}) . "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 14: memberships without a string "id" (a number, another key) match nothing
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {orgs => [42, {org => 'globex', role => 'owner'}, {id => 42}, undef]})
    . "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::NotMember
--- no_error_log
[error]



=== TEST 15: a malformed selection ("../x") is 403 invalid_tenant, even when the token lists it
--- request
GET /t
--- more_headers eval
main::member(orgs => ['../x', @main::Orgs]) . "\nX-Organization-Id: ../x"
--- error_code: 403
--- response_body eval
$main::InvalidTenant
--- error_log
tenant: rejected with "invalid_tenant"
--- no_error_log
[error]



=== TEST 16: a selection of 65 characters is invalid_tenant, even when the token lists it
--- request
GET /t
--- more_headers eval
my $id = 'a' x 65;
main::member(orgs => [$id]) . "\nX-Organization-Id: $id"
--- error_code: 403
--- response_body eval
$main::InvalidTenant
--- no_error_log
[error]



=== TEST 17: a listed selection of 64 characters is admitted
--- request
GET /t
--- more_headers eval
my $id = 'a' x 64;
main::member(orgs => [$id]) . "\nX-Organization-Id: $id"
--- error_code: 200
--- response_body eval
main::up(id => 'a' x 64)
--- no_error_log
[error]



=== TEST 18: other malformed selections: ".", "..", a space, a slash, a colon
--- request eval
["GET /t?o=.", "GET /t?o=..", "GET /t?o=a%20b", "GET /t?o=a%2Fb", "GET /t?o=acme:globex"]
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_o;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- more_headers eval
main::member(orgs => ['.', '..', 'a b', 'a%20b', 'a/b', 'a%2Fb', 'acme:globex'])
--- error_code eval
[403, 403, 403, 403, 403]
--- response_body eval
[($main::InvalidTenant) x 5]
--- error_log
tenant: rejected with "invalid_tenant"
--- no_error_log
[error]



=== TEST 19: a membership whose role is not a string cannot be forwarded: invalid_claims
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {orgs => [{id => 'globex', role => ['owner']}]}) . "\nX-Organization-Id: globex"
--- error_code: 403
--- response_body eval
$main::Claims
--- no_error_log
[error]



=== TEST 20: spoofed X-Tenant-* headers with a selection: the upstream sees the selected organization only
--- config eval
<<'_EOC_'
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
_EOC_
--- request
GET /t
--- more_headers eval
main::member() . "
X-Tenant-ID: acme
x-tenant-id: umbrella
X-Tenant-Role: owner
X-Tenant-Plan: enterprise
X-Tenant-Permissions: *
X-Organization-Id: globex"
--- error_code: 200
--- response_body_like eval
qr{\A(?![\s\S]*(?:umbrella|owner|enterprise|: \*\r|X-Tenant-ID: acme))[\s\S]*\r\nX-Tenant-ID: globex\r\nX-Tenant-User: user-1\r\nX-Tenant-Role: editor\r\nX-Tenant-Plan: starter\r\nX-Tenant-Permissions: posts:write,posts:read\r\n\r\n\z}
--- no_error_log
[error]



=== TEST 21: the membership's role is the one policy checks: an admin of acme who is an editor of globex
--- config eval
<<'_EOC_' . $main::Echo
    location /admin {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        tenant_require_role admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
["GET /admin", "GET /admin?org=globex", "GET /admin?org=initech", "GET /admin?org=acme"]
--- more_headers eval
main::member()
--- error_code eval
[200, 403, 403, 403]
--- response_body eval
[main::up(role => 'admin', plan => 'pro'), ($main::Role) x 3]
--- no_error_log
[error]



=== TEST 22: the top-level permissions and plan do not carry over to a selected organization
--- config eval
<<'_EOC_' . $main::Echo
    location /billing {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        tenant_require_permission billing:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /pro {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        tenant_require_plan pro;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
["GET /billing", "GET /billing?org=initech", "GET /billing?org=globex",
 "GET /pro", "GET /pro?org=initech", "GET /pro?org=globex"]
--- more_headers eval
main::member(permissions => ['billing:read'])
--- error_code eval
[200, 403, 403, 200, 403, 403]
--- response_body eval
[main::up(role => 'admin', plan => 'pro', permissions => 'billing:read'),
 ($main::Perm) x 2,
 main::up(role => 'admin', plan => 'pro', permissions => 'billing:read'),
 ($main::Plan) x 2]
--- no_error_log
[error]



=== TEST 23: tenant_match compares with the selected organization
--- config eval
<<'_EOC_' . $main::Echo
    location ~ ^/orgs/(?<org>[^/]+)/ {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_match $org;
        echo "admitted: org=[$org] tenant=[$tenant_id] role=[$tenant_role]";
    }
_EOC_
--- request eval
["GET /orgs/globex/", "GET /orgs/acme/"]
--- more_headers eval
main::member() . "\nX-Organization-Id: globex"
--- error_code eval
[200, 403]
--- response_body eval
["admitted: org=[globex] tenant=[globex] role=[editor]\n", $main::Mismatch]
--- no_error_log
[error]



=== TEST 24: tenant_orgs_claim memberships
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_orgs_claim memberships;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
["GET /t?org=globex", "GET /t?org=initech"]
--- more_headers eval
TenantTest::bearer(claims => {memberships => [{id => 'globex', role => 'viewer'}],
                              orgs => ['initech']})
--- error_code eval
[200, 403]
--- response_body eval
[main::up(id => 'globex', role => 'viewer'), $main::NotMember]
--- no_error_log
[error]



=== TEST 25: tenant_orgs_claim with a dotted path: app.orgs
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_orgs_claim app.orgs;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
["GET /t?org=globex", "GET /t?org=acme", "GET /t"]
--- more_headers eval
TenantTest::bearer(claims => {app => {orgs => [{id => 'globex', role => 'owner', plan => 'enterprise'}, 'acme']}})
--- error_code eval
[200, 200, 200]
--- response_body eval
[main::up(id => 'globex', role => 'owner', plan => 'enterprise'), main::up(),
 main::up(role => 'admin', plan => 'pro')]
--- no_error_log
[error]



=== TEST 26: tenant_select and tenant_orgs_claim are inherited from the http level
--- http_config
    tenant_orgs_claim teams;
    tenant_select $http_x_organization_id;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {teams => [{id => 'globex', role => 'editor'}]}) . "\nX-Organization-Id: globex"
--- error_code: 200
--- response_body eval
main::up(id => 'globex', role => 'editor')
--- no_error_log
[error]



=== TEST 27: with Redis, the quota counts against the selected organization (globex), not the token's org_id; the refused request keeps it in $tenant_id
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan starter quota=3/day;
    tenant_plan pro quota=100/day;
    tenant_default_plan starter;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_limit on;
        add_header X-Used "[$tenant_quota_used]" always;
        add_header X-Tenant "[$tenant_id]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
--- request eval
[("GET /t") x 4]
--- more_headers eval
main::member() . "\nX-Organization-Id: globex"
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["X-Tenant: [globex]\nX-Used: [1]\nX-Quota-Limit: 3", "X-Used: [2]", "X-Used: [3]",
 "X-Tenant: [globex]\nX-Used: [3]\nX-Quota-Remaining: 0"]
--- response_body_like eval
[("\\Aupstream: id=\\[globex\\] user=\\[user-1\\] role=\\[editor\\] plan=\\[starter\\] ") x 3,
 '\A\{"error":"quota_exceeded",']
--- no_error_log
[error]



=== TEST 28: the previous block counted in tenant:{globex}:quota:DAY only; acme, unselected, still has its own counter
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan starter quota=3/day;
    tenant_plan pro quota=100/day;
    tenant_default_plan starter;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_limit on;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
ASSERT_GET tenant:{globex}:quota:%DAY% 3
ASSERT_GET tenant:{acme}:quota:%DAY% nil
--- request
GET /t
--- more_headers eval
main::member()
--- error_code: 200
--- response_headers
X-Used: [1]
X-Quota-Limit: 100
--- response_body eval
main::up(role => 'admin', plan => 'pro')
--- no_error_log
[error]



=== TEST 29: with Redis, the registry entry of the selected organization applies: its plan override, its suspension
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan starter quota=3/day;
    tenant_plan pro quota=100/day;
    tenant_default_plan starter;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        tenant_limit on;
        add_header X-Quota-Was "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
HSET tenant:{globex} plan pro
HSET tenant:{initech} status suspended
--- request eval
["GET /t?org=globex", "GET /t?org=initech", "GET /t"]
--- more_headers eval
main::member()
--- error_code eval
[200, 403, 200]
--- response_headers eval
["X-Quota-Limit: 100", "X-Quota-Limit: ", "X-Quota-Limit: 100"]
--- response_body eval
[main::up(id => 'globex', role => 'editor', plan => 'pro', permissions => 'posts:write,posts:read'),
 $main::Suspended, main::up(role => 'admin', plan => 'pro')]
--- no_error_log
[error]



=== TEST 30: with Redis, a refused selection counts nothing for anyone
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan starter quota=3/day;
    tenant_plan pro quota=100/day;
    tenant_default_plan starter;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        tenant_limit on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
--- request eval
["GET /t?org=umbrella", "GET /t?org=..", "GET /t?org=Globex"]
--- more_headers eval
main::member()
--- error_code eval
[403, 403, 403]
--- response_body eval
[$main::NotMember, $main::InvalidTenant, $main::NotMember]
--- no_error_log
[error]



=== TEST 31: nothing was counted by the previous block
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
ASSERT_GET tenant:{umbrella}:quota:%DAY% nil
ASSERT_GET tenant:{Globex}:quota:%DAY% nil
ASSERT_GET tenant:{acme}:quota:%DAY% nil
ASSERT_GET tenant:{globex}:quota:%DAY% nil
--- request
GET /t
--- more_headers eval
main::member()
--- error_code: 200
--- response_body eval
main::up(role => 'admin', plan => 'pro')



=== TEST 32: a token revoked in the tenant that issued it stays revoked when another organization is selected
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
SET tenant:{acme}:revoked:stolen-1 1
--- request eval
["GET /t?org=globex", "GET /t?org=initech", "GET /t"]
--- more_headers eval
main::member(jti => 'stolen-1')
--- error_code eval
[401, 401, 401]
--- response_body_like eval
['"error":"token_revoked"', '"error":"token_revoked"', '"error":"token_revoked"']
--- no_error_log
[error]



=== TEST 33: "sign out everywhere" in the issuing tenant covers the organizations selected with that token
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
HSET tenant:{acme} tokens_valid_after 4102444800
--- request eval
["GET /t?org=globex", "GET /t?org=initech"]
--- more_headers eval
main::member(iat => time())
--- error_code eval
[401, 401]
--- no_error_log
[error]



=== TEST 34: a token of another user, not revoked, still selects the organization
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
SET tenant:{acme}:revoked:stolen-1 1
--- request
GET /t?org=globex
--- more_headers eval
main::member(jti => 'fine-2')
--- error_code: 200
--- response_body eval
main::up(id => 'globex', role => 'editor', plan => 'starter', permissions => 'posts:write,posts:read')
--- no_error_log
[error]
