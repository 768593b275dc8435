use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

no_shuffle();

# Policy at the edge: tenant_require_role, tenant_roles + tenant_min_role,
# tenant_require_permission, tenant_require_plan, their inheritance and
# the configurations nginx -t must refuse.
#
# The token travels in the query (tenant_jwt on token=$arg_t), so that one
# block can send a different token with each request: main::t(PATH,
# CLAIM => VALUE, ...) is "GET PATH?t=<HS256 token>" with the default
# claims (org_id=acme, sub=user-1, role=admin, plan=pro) changed by the
# ones given (undef removes one).  /echo answers with the trusted headers
# it received; a refused request gets the module's JSON error instead, so
# an exact --- response_body also proves that /echo was never reached.
#
# Blocks with Redis (tenant_require_plan against the registry's plan, and
# what a refusal costs) start from an empty Redis: FLUSHALL in their
# --- redis section.

our $Echo = <<'_EOC_';
    location /echo {
        tenant_jwt off;
        echo "upstream: id=[$http_x_tenant_id] role=[$http_x_tenant_role] plan=[$http_x_tenant_plan] permissions=[$http_x_tenant_permissions]";
    }
_EOC_

# /any: any of admin, owner; /min/ROLE: ROLE or higher; /perm/*: all of
sub default_config {
    my $c = <<'_EOC_';
    location /any {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role admin owner;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /one {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role editor;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /perm/rw {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_permission orders:read orders:write;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /perm/admin-rw {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role admin;
        tenant_require_permission orders:read orders:write;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_

    for my $min (qw(viewer editor admin owner)) {
        $c .= <<"_EOC_";
    location /min/$min {
        tenant_jwt on token=\$arg_t;
        tenant_jwt_key_file \$TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_min_role $min;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
    }

    return $c . $Echo;
}

our $DefaultHttpConfig = <<'_EOC_';
    tenant_roles viewer editor admin owner;
_EOC_

our $Role = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};
our $Perm = qq{{"error":"insufficient_permission","message":"a permission this action needs is missing"}\n};
our $Plan = qq{{"error":"plan_required","message":"the organization's plan does not include this"}\n};
our $Claims = qq{{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}\n};

# GET PATH?t=TOKEN, the token's claims being the defaults changed by %c
sub t {
    my ($path, %c) = @_;
    return "GET $path?t=" . TenantTest::jwt(claims => \%c);
}

# what /echo answers when it is reached
sub up {
    my (%h) = (role => 'admin', plan => 'pro', permissions => '', @_);
    return "upstream: id=[acme] role=[$h{role}] plan=[$h{plan}] permissions=[$h{permissions}]\n";
}

# the expected bodies: 200 is the upstream answer for that role, anything
# else the refusal given
sub by_role {
    my ($roles, $codes, $refusal) = @_;
    return [map { $codes->[$_] == 200 ? up(role => $roles->[$_]) : $refusal }
                0 .. $#$roles];
}

our @Hier = qw(viewer editor admin owner);

add_block_preprocessor(\&TenantRedis::redis_block);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $DefaultHttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => default_config()) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: tenant_require_role admin owner admits either, refuses the others, a missing and an empty role
--- request eval
[map({ main::t('/any', role => $_) } qw(admin owner viewer editor), ''),
 main::t('/any', role => undef)]
--- error_code eval
[200, 200, 403, 403, 403, 403]
--- response_body eval
[main::up(role => 'admin'), main::up(role => 'owner'), ($main::Role) x 4]
--- no_error_log
[error]



=== TEST 2: a refusal: 403 insufficient_role as JSON, logged at info, never upstream
--- request eval
main::t('/one', role => 'viewer')
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body eval
$main::Role
--- error_log
tenant: rejected with "insufficient_role"
--- no_error_log
[error]



=== TEST 3: role names are exact: no case folding, no prefix or suffix, no list in one claim
--- request eval
[map { main::t('/one', role => $_) } 'Editor', 'EDITOR', 'edit', 'editors', ' editor', 'editor admin', 'editor']
--- error_code eval
[403, 403, 403, 403, 403, 403, 200]
--- response_body eval
[($main::Role) x 6, main::up(role => 'editor')]
--- no_error_log
[error]



=== TEST 4: tenant_min_role viewer admits every declared role, refuses an unknown, a missing and a differently cased role
--- request eval
[map({ main::t('/min/viewer', role => $_) } @main::Hier, 'guest', 'Viewer'),
 main::t('/min/viewer', role => undef)]
--- error_code eval
[200, 200, 200, 200, 403, 403, 403]
--- response_body eval
[@{ main::by_role(\@main::Hier, [200, 200, 200, 200]) }, ($main::Role) x 3]
--- no_error_log
[error]



=== TEST 5: tenant_min_role editor admits editor, admin, owner; refuses viewer, unknown and missing roles
--- request eval
[map({ main::t('/min/editor', role => $_) } @main::Hier, 'guest'),
 main::t('/min/editor', role => undef)]
--- error_code eval
[403, 200, 200, 200, 403, 403]
--- response_body eval
[@{ main::by_role(\@main::Hier, [403, 200, 200, 200], $main::Role) }, ($main::Role) x 2]
--- no_error_log
[error]



=== TEST 6: tenant_min_role admin admits admin, owner; refuses viewer, editor, unknown and missing roles
--- request eval
[map({ main::t('/min/admin', role => $_) } @main::Hier, 'guest'),
 main::t('/min/admin', role => undef)]
--- error_code eval
[403, 403, 200, 200, 403, 403]
--- response_body eval
[@{ main::by_role(\@main::Hier, [403, 403, 200, 200], $main::Role) }, ($main::Role) x 2]
--- no_error_log
[error]



=== TEST 7: tenant_min_role owner admits owner only; refuses the rest, unknown and missing roles
--- request eval
[map({ main::t('/min/owner', role => $_) } @main::Hier, 'guest'),
 main::t('/min/owner', role => undef)]
--- error_code eval
[403, 403, 403, 200, 403, 403]
--- response_body eval
[@{ main::by_role(\@main::Hier, [403, 403, 403, 200], $main::Role) }, ($main::Role) x 2]
--- no_error_log
[error]



=== TEST 8: tenant_min_role reads the role from tenant_role_claim (nested path)
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_role_claim app_metadata.role;
        tenant_min_role editor;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/t', role => 'owner', app_metadata => { role => 'viewer' }),
 main::t('/t', role => 'viewer', app_metadata => { role => 'editor' })]
--- error_code eval
[403, 200]
--- response_body eval
[$main::Role, main::up(role => 'editor')]
--- no_error_log
[error]



=== TEST 9: tenant_require_permission needs all of them: a JSON array with both (any order, extras allowed)
--- request eval
[main::t('/perm/rw', permissions => ['orders:read', 'orders:write']),
 main::t('/perm/rw', permissions => ['billing:read', 'orders:write', 'x', 'orders:read'])]
--- error_code eval
[200, 200]
--- response_body eval
[main::up(permissions => 'orders:read,orders:write'),
 main::up(permissions => 'billing:read,orders:write,x,orders:read')]
--- no_error_log
[error]



=== TEST 10: tenant_require_permission: one of two, none, an empty list, look-alikes and other cases are refused
--- request eval
[main::t('/perm/rw', permissions => ['orders:read']),
 main::t('/perm/rw', permissions => ['orders:write']),
 main::t('/perm/rw', permissions => []),
 main::t('/perm/rw', permissions => ['orders:reader', 'orders:write-all']),
 main::t('/perm/rw', permissions => ['Orders:Read', 'Orders:Write']),
 main::t('/perm/rw', permissions => ['orders:*']),
 main::t('/perm/rw', permissions => ['orders']),
 main::t('/perm/rw', permissions => undef)]
--- error_code eval
[(403) x 8]
--- response_body eval
[($main::Perm) x 8]
--- error_log
tenant: rejected with "insufficient_permission"
--- no_error_log
[error]



=== TEST 11: tenant_require_permission: a space-separated string (OAuth "scope" style), extra spaces too
--- request eval
[main::t('/perm/rw', permissions => 'orders:read orders:write'),
 main::t('/perm/rw', permissions => '  orders:write   profile orders:read '),
 main::t('/perm/rw', permissions => 'orders:read'),
 main::t('/perm/rw', permissions => 'orders:readorders:write'),
 main::t('/perm/rw', permissions => '')]
--- error_code eval
[200, 200, 403, 403, 403]
--- response_body eval
[main::up(permissions => 'orders:read,orders:write'),
 main::up(permissions => 'orders:write,profile,orders:read'),
 ($main::Perm) x 3]
--- no_error_log
[error]



=== TEST 12: a permission holding a comma cannot be smuggled as two: invalid_claims, not admitted
--- request eval
[main::t('/perm/rw', permissions => ['orders:read,orders:write']),
 main::t('/perm/rw', permissions => 'orders:read,orders:write')]
--- error_code eval
[403, 403]
--- response_body eval
[($main::Claims) x 2]
--- no_error_log
[error]



=== TEST 13: tenant_require_permission with tenant_permissions_claim scope
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_permissions_claim scope;
        tenant_require_permission orders:write;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/t', scope => 'orders:read orders:write'),
 main::t('/t', scope => 'orders:read', permissions => ['orders:write'])]
--- error_code eval
[200, 403]
--- response_body eval
[main::up(permissions => 'orders:read,orders:write'), $main::Perm]
--- no_error_log
[error]



=== TEST 14: role and permission together: each must pass, the role is checked first
--- request eval
[main::t('/perm/admin-rw', role => 'admin', permissions => ['orders:read', 'orders:write']),
 main::t('/perm/admin-rw', role => 'admin', permissions => ['orders:read']),
 main::t('/perm/admin-rw', role => 'viewer', permissions => ['orders:read', 'orders:write']),
 main::t('/perm/admin-rw', role => 'viewer')]
--- error_code eval
[200, 403, 403, 403]
--- response_body eval
[main::up(permissions => 'orders:read,orders:write'), $main::Perm, $main::Role, $main::Role]
--- no_error_log
[error]



=== TEST 15: tenant_require_plan without Redis: the token's plan, any of those listed, exact
--- http_config
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro enterprise;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[map({ main::t('/t', plan => $_) } qw(pro enterprise free Pro pro2), ''),
 main::t('/t', plan => undef)]
--- error_code eval
[200, 200, 403, 403, 403, 403, 403]
--- response_body eval
[main::up(plan => 'pro'), main::up(plan => 'enterprise'), ($main::Plan) x 5]
--- no_error_log
[error]



=== TEST 16: tenant_require_plan without Redis: a token without a plan has tenant_default_plan
--- http_config
    tenant_plan free;
    tenant_plan pro;
    tenant_plan enterprise;
    tenant_default_plan free;
--- config eval
<<'_EOC_' . $main::Echo
    location /paid {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro enterprise;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /free {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan free;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/paid', plan => undef), main::t('/free', plan => undef),
 main::t('/paid', plan => 'pro'), main::t('/free', plan => 'pro')]
--- error_code eval
[403, 200, 200, 403]
--- response_body eval
[$main::Plan, main::up(plan => 'free'), main::up(plan => 'pro'), $main::Plan]
--- no_error_log
[error]



=== TEST 17: tenant_require_plan without Redis: a plan not declared with tenant_plan is the default plan, as it is with Redis
--- http_config
    tenant_plan free;
    tenant_plan pro;
    tenant_default_plan free;
--- config eval
<<'_EOC_' . $main::Echo
    location /paid {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /free {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan free;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/paid', plan => 'gold'), main::t('/free', plan => 'gold'), main::t('/free', plan => 'Free')]
--- error_code eval
[403, 200, 200]
--- response_body eval
[$main::Plan, main::up(plan => 'free'), main::up(plan => 'free')]
--- no_error_log
[error]



=== TEST 18: tenant_require_plan with Redis: the registry's plan overrides the token's, both ways
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free quota=5/day;
    tenant_plan pro quota=5/day;
    tenant_plan enterprise quota=5/day;
    tenant_default_plan free;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro enterprise;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
HSET tenant:{acme} plan free
HSET tenant:{globex} plan enterprise
--- request eval
[main::t('/t', plan => 'pro'),
 main::t('/t', plan => 'free', org_id => 'globex'),
 main::t('/t', plan => 'pro', org_id => 'initech'),
 main::t('/t', plan => 'free', org_id => 'initech'),
 main::t('/t', plan => undef, org_id => 'initech')]
--- error_code eval
[403, 200, 200, 403, 403]
--- response_body eval
[$main::Plan,
 "upstream: id=[globex] role=[admin] plan=[enterprise] permissions=[]\n",
 "upstream: id=[initech] role=[admin] plan=[pro] permissions=[]\n",
 $main::Plan, $main::Plan]
--- no_error_log
[error]



=== TEST 19: with Redis, plan_required counts nothing: three refusals, then the quota counter is at 1
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free quota=5/day;
    tenant_plan pro quota=5/day;
    tenant_default_plan free;
--- config eval
<<'_EOC_' . $main::Echo
    location /pro {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_require_plan pro;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
HSET tenant:{acme} plan free
--- request eval
[(main::t('/pro')) x 3, main::t('/open'), main::t('/open')]
--- error_code eval
[403, 403, 403, 200, 200]
--- response_headers eval
["X-Quota-Limit: \nX-Quota-Remaining: ", "X-Quota-Limit: ", "X-Quota-Limit: ",
 "X-Used: [1]\nX-Quota-Limit: 5\nX-Quota-Remaining: 4",
 "X-Used: [2]\nX-Quota-Remaining: 3"]
--- response_body eval
[($main::Plan) x 3, (main::up(plan => 'free')) x 2]
--- no_error_log
[error]



=== TEST 20: with Redis, an upgrade in the registry admits the tenant, and that request counts once
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free quota=5/day;
    tenant_plan pro quota=5/day;
    tenant_default_plan free;
--- config eval
<<'_EOC_' . $main::Echo
    location /pro {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_require_plan pro;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
HSET tenant:{acme} plan pro
--- request eval
[main::t('/pro', plan => 'free'), main::t('/pro', plan => undef)]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Used: [1]", "X-Used: [2]"]
--- response_body eval
[(main::up(plan => 'pro')) x 2]
--- no_error_log
[error]



=== TEST 21: with Redis, a role refusal counts nothing either (policy runs before Redis)
--- http_config
    tenant_roles viewer editor admin owner;
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan pro quota=5/day;
--- config eval
<<'_EOC_' . $main::Echo
    location /admin {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_limit on;
        tenant_min_role admin;
        tenant_require_permission orders:write;
        add_header X-Used "[$tenant_quota_used]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
FLUSHALL
--- request eval
[main::t('/admin', role => 'viewer', permissions => ['orders:write']),
 main::t('/admin', role => 'admin'),
 main::t('/admin', role => 'admin', permissions => ['orders:write'])]
--- error_code eval
[403, 403, 200]
--- response_headers eval
["X-Quota-Limit: ", "X-Quota-Limit: ", "X-Used: [1]\nX-Quota-Remaining: 4"]
--- response_body eval
[$main::Role, $main::Perm, main::up(permissions => 'orders:write')]
--- no_error_log
[error]



=== TEST 22: with Redis configured but down (tenant_redis_failure allow), a token without a plan has the default plan
Without Redis the effective plan is the token's or else tenant_default_plan;
with Redis configured but unreachable (admitted unchecked) there is no
override to read, so the same must hold (the build of commit b36027d
refused the planless token with plan_required here).
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    tenant_plan free;
    tenant_plan pro;
    tenant_default_plan pro;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
STOP
--- request eval
[main::t('/t', plan => 'pro'), main::t('/t', plan => undef), main::t('/t', plan => 'free'),
 main::t('/t', plan => 'gold')]
--- error_code eval
[200, 200, 403, 200]
--- response_body eval
[main::up(plan => 'pro'), main::up(plan => 'pro'), $main::Plan, main::up(plan => 'pro')]



=== TEST 23: Redis is back
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- redis
START
FLUSHALL
--- request eval
main::t('/t')
--- error_code: 200
--- response_body eval
main::up()
--- no_error_log
[error]



=== TEST 24: inheritance: a server-level tenant_require_role applies to every location, nested ones too; a location's own replaces it
--- config eval
<<'_EOC_' . $main::Echo
    tenant_jwt on token=$arg_t;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_require_role admin owner;

    location /inherit {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /outer/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;

        location /outer/inner {
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        }
    }
    location /own {
        tenant_require_role viewer;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/inherit', role => 'viewer'), main::t('/inherit', role => 'owner'),
 main::t('/outer/inner', role => 'editor'), main::t('/outer/inner', role => 'admin'),
 main::t('/own', role => 'viewer'), main::t('/own', role => 'admin')]
--- error_code eval
[403, 200, 403, 200, 200, 403]
--- response_body eval
[$main::Role, main::up(role => 'owner'), $main::Role, main::up(role => 'admin'),
 main::up(role => 'viewer'), $main::Role]
--- no_error_log
[error]



=== TEST 25: inheritance: tenant_min_role, tenant_require_permission and tenant_require_plan from the server level, each replaced where a location sets its own
--- config eval
<<'_EOC_' . $main::Echo
    tenant_jwt on token=$arg_t;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_min_role editor;
    tenant_require_permission orders:read;
    tenant_require_plan pro;

    location /inherit {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /own {
        tenant_min_role viewer;
        tenant_require_permission reports:read;
        tenant_require_plan free;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/inherit', role => 'editor', permissions => ['orders:read']),
 main::t('/inherit', role => 'viewer', permissions => ['orders:read']),
 main::t('/inherit', role => 'editor', permissions => ['reports:read']),
 main::t('/inherit', role => 'editor', permissions => ['orders:read'], plan => 'free'),
 main::t('/own', role => 'viewer', permissions => ['reports:read'], plan => 'free'),
 main::t('/own', role => 'viewer', permissions => ['orders:read'], plan => 'free'),
 main::t('/own', role => 'viewer', permissions => ['reports:read'], plan => 'pro')]
--- error_code eval
[200, 403, 403, 403, 200, 403, 403]
--- response_body eval
[main::up(role => 'editor', permissions => 'orders:read'), $main::Role, $main::Perm, $main::Plan,
 main::up(role => 'viewer', permissions => 'reports:read', plan => 'free'), $main::Perm, $main::Plan]
--- no_error_log
[error]



=== TEST 26: without tenant_roles, tenant_require_role takes any role names
--- http_config
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on token=$arg_t;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role superuser support;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request eval
[main::t('/t', role => 'support'), main::t('/t', role => 'admin')]
--- error_code eval
[200, 403]
--- response_body eval
[main::up(role => 'support'), $main::Role]
--- no_error_log
[error]



=== TEST 27: nginx -t: tenant_min_role without tenant_roles
--- http_config
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_min_role admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_min_role" needs the hierarchy declared with "tenant_roles"']



=== TEST 28: nginx -t: tenant_require_role names a role not declared in tenant_roles
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role admin superuser;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'role "superuser" is not declared in "tenant_roles"']



=== TEST 29: nginx -t: tenant_min_role names a role not declared in tenant_roles (letter case counts)
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_min_role Admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'role "Admin" is not declared in "tenant_roles"']



=== TEST 30: nginx -t: an undeclared role in a nested location
--- config eval
<<'_EOC_' . $main::Echo
    tenant_require_role admin;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;

        location /t/inner {
            tenant_min_role root;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        }
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'role "root" is not declared in "tenant_roles"']



=== TEST 31: nginx -t: tenant_require_role at the server level naming an undeclared role
--- config eval
<<'_EOC_' . $main::Echo
    tenant_require_role owner janitor;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'role "janitor" is not declared in "tenant_roles"']



=== TEST 32: nginx -t: tenant_require_plan names a plan not declared with tenant_plan
--- http_config
    tenant_plan free;
    tenant_plan pro;
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_plan pro gold;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'plan "gold" is not declared with "tenant_plan"']



=== TEST 33: nginx -t: the same at the server level
--- http_config
    tenant_plan free;
    tenant_plan pro;
--- config eval
<<'_EOC_' . $main::Echo
    tenant_require_plan Pro;

    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", 'plan "Pro" is not declared with "tenant_plan"']



=== TEST 34: nginx -t: tenant_roles twice
--- http_config
    tenant_roles viewer editor admin owner;
    tenant_roles guest;
--- config eval
$main::Echo
--- request
GET /echo
--- must_die
--- error_log eval
["[emerg]", '"tenant_roles" directive is duplicate']



=== TEST 35: nginx -t: tenant_roles is for the http level only
--- http_config
--- config eval
"    tenant_roles viewer admin;\n" . $main::Echo
--- request
GET /echo
--- must_die
--- error_log eval
["[emerg]", '"tenant_roles" directive is not allowed here']



=== TEST 36: nginx -t: tenant_require_role is not for the http level
--- http_config
    tenant_roles viewer admin;
    tenant_require_role admin;
--- config eval
$main::Echo
--- request
GET /echo
--- must_die
--- error_log eval
["[emerg]", '"tenant_require_role" directive is not allowed here']



=== TEST 37: nginx -t: tenant_match twice in one location
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_match $arg_org;
        tenant_match $host;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_match" directive is duplicate']



=== TEST 38: nginx -t: tenant_select twice in one location
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_select $http_x_organization_id;
        tenant_select $arg_org;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_select" directive is duplicate']



=== TEST 39: nginx -t: tenant_require_role twice in one location
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_require_role admin;
        tenant_require_role owner;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_require_role" directive is duplicate']



=== TEST 40: nginx -t: tenant_min_role twice in one location
--- config eval
<<'_EOC_' . $main::Echo
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_min_role admin;
        tenant_min_role owner;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
_EOC_
--- request
GET /t
--- must_die
--- error_log eval
["[emerg]", '"tenant_min_role" directive is duplicate']



=== TEST 41: nginx -t: a plan name with a ";" (the script's list of plans uses it)
--- http_config
    tenant_plan "free;pro";
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
--- must_die
--- error_log eval
["[emerg]", 'invalid plan name "free;pro"']



=== TEST 42: nginx -t: a plan name with a space
--- http_config
    tenant_plan "gold plan";
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
--- must_die
--- error_log eval
["[emerg]", 'invalid plan name "gold plan"']
