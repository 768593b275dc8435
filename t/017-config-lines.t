use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;
use TenantRedis;

# Mistakes that can only be seen when the levels are merged, at the
# closing brace of "http", are reported at the file and line of the
# directive that cannot be satisfied, not at that brace.  The module's
# directives sit in an included file (as in conf.d/), so the line is the
# same under every runner, whatever it writes around the blocks.

# "... in /path/to/servroot/html/FILE:LINE" at the end of the message
sub at { my ($file, $line) = @_; qr{ in \S+/html/\Q$file\E:$line$}m }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: tenant_jwt on without a key names the tenant_jwt line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {

    tenant_jwt on;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
[qr/\[emerg\] .*"tenant_jwt" is on but no key is configured for it: add "tenant_jwt_key_file" or "tenant_jwt_jwks_file"/,
 main::at("api.conf", 3)]



=== TEST 2: tenant_jwt on at the http level, no key anywhere, names that line
--- http_config
    include ../html/http.conf;
--- config
    location /t {
        echo ok;
    }
--- user_files
>>> http.conf
# the gateway for every server
tenant_jwt on;
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_jwt" is on but no key is configured', main::at("http.conf", 2)]



=== TEST 3: an allow-list no key can serve names the tenant_jwt_algorithms line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
tenant_jwt_algorithms RS256;

location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_jwt_algorithms" allows no algorithm that the configured keys can verify: list the keys\' algorithm',
 main::at("api.conf", 1)]



=== TEST 4: an undeclared role in tenant_require_role names that line
--- http_config
    tenant_roles viewer editor admin;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
tenant_jwt on;
tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;

location /t {
    location /t/admin {
        tenant_require_role superuser;
        echo ok;
    }
}
--- request
GET /t
--- must_die
--- error_log eval
['role "superuser" is not declared in "tenant_roles": add it there, or name a declared one',
 main::at("api.conf", 6)]



=== TEST 5: an undeclared role in tenant_min_role names that line
--- http_config
    tenant_roles viewer editor admin;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
tenant_jwt on;
tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
tenant_min_role root;
location /t {
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['role "root" is not declared in "tenant_roles"', main::at("api.conf", 3)]



=== TEST 6: tenant_min_role without tenant_roles names the tenant_min_role line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_min_role admin;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_min_role" needs the hierarchy declared with "tenant_roles"',
 main::at("api.conf", 4)]



=== TEST 7: an undeclared plan in tenant_require_plan names that line
--- http_config
    tenant_plan free;
    tenant_plan pro;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_require_plan pro gold;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['plan "gold" is not declared with "tenant_plan": declare it, or name a declared one',
 main::at("api.conf", 4)]



=== TEST 8: tenant_default_plan naming an undeclared plan names its line
--- http_config
    include ../html/plans.conf;
--- config
    location /t {
        echo ok;
    }
--- user_files
>>> plans.conf
tenant_plan free rate=10r/s;
tenant_plan pro rate=100r/s;

tenant_default_plan gold;
--- request
GET /t
--- must_die
--- error_log eval
['tenant_default_plan "gold" is not declared with "tenant_plan"', main::at("plans.conf", 4)]



=== TEST 9: tenant_limit without tenant_redis names the tenant_limit line
--- http_config
    tenant_plan pro rate=10r/s;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_limit on;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_limit" and "tenant_meter" need "tenant_redis": declare the Redis server at the http level',
 main::at("api.conf", 4)]



=== TEST 10: tenant_limit inherited from the server, without tenant_redis, names the server's line
--- http_config
    tenant_plan pro rate=10r/s;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
tenant_jwt on;
tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
tenant_limit on;

location /t {
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_limit" and "tenant_meter" need "tenant_redis"', main::at("api.conf", 3)]



=== TEST 11: tenant_meter without tenant_jwt on names the tenant_meter line
--- http_config
    tenant_redis 127.0.0.1:6379;
    tenant_plan pro rate=10r/s meter=generate:10/day;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_meter generate;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_limit" and "tenant_meter" need "tenant_jwt on" to know the tenant: turn it on where the limit is written',
 main::at("api.conf", 2)]



=== TEST 12: a policy directive where tenant_jwt is off names its own line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
location /t {
    tenant_jwt off;
    tenant_require_permission billing:read;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_require_permission": tenant policy directives need "tenant_jwt on" where they are written',
 main::at("api.conf", 4)]



=== TEST 13: tenant_limit_by naming an undeclared zone names its line
--- http_config
    tenant_redis 127.0.0.1:6379;
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;

    tenant_limit_by nope;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['zone "nope" is not declared with "tenant_limit_zone": declare it at the http level',
 main::at("api.conf", 5)]



=== TEST 14: tenant_lockout without tenant_redis names the tenant_lockout line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_lockout key=$remote_addr after=5 window=1m duration=5m;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['"tenant_limit_by" and "tenant_lockout" need "tenant_redis"', main::at("api.conf", 2)]



=== TEST 15: tenant_select without a variable fails nginx -t at its line
--- config
    include ../html/api.conf;
--- user_files
>>> api.conf
location /t {
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_select http_x_org_id;
    echo ok;
}
--- request
GET /t
--- must_die
--- error_log eval
['invalid value "http_x_org_id": "tenant_select" takes a value with a variable, such as "$http_x_organization_id"',
 main::at("api.conf", 4)]



=== TEST 16: a missing JWK Set file is named with the reason, and no line -1
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_jwks_file $TEST_NGINX_DATA_DIR/no-such-jwks.json;
        echo ok;
    }
--- request
GET /t
--- must_die
--- error_log eval
[qr/cannot load JWK Set "[^"]+no-such-jwks\.json": unable to open [^\n]*No such file or directory in /]
--- no_error_log
(line -1)



=== TEST 17: an inherited tenant_limit has no effect where tenant_jwt is off
--- http_config
    tenant_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    tenant_plan free rate=1r/m;
    tenant_default_plan free;
--- config
    tenant_jwt on;
    tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
    tenant_limit on;

    location /healthz {
        tenant_jwt off;
        echo "healthy $tenant_limit_status";
    }
--- request eval
["GET /healthz", "GET /healthz", "GET /healthz"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["healthy \n", "healthy \n", "healthy \n"]
--- no_error_log
[error]
