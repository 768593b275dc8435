use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

# nginx -t on the tenant_redis family: mistakes that would leave the
# registry unreachable, or reachable without the protection asked for,
# fail the configuration with a message that says what to add.

no_shuffle();
run_tests();

__DATA__

=== TEST 1: tls with verification on and no trusted certificate fails nginx -t
--- http_config
    tenant_redis 127.0.0.1:6379 tls;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log eval
[qr/redis over TLS with "tenant_redis_ssl_verify on" needs "tenant_redis_ssl_trusted_certificate" \(\/etc\/ssl\/certs\/ca-certificates\.crt for the public CAs of managed services\) in \S+nginx\.conf:\d+/]



=== TEST 2: tls with verification off needs no trusted certificate
--- http_config
    tenant_redis 127.0.0.1:1 tls timeout=100ms;
    tenant_redis_ssl_verify off;
--- config
    location /t { echo ok; }
--- request
GET /t
--- response_body
ok



=== TEST 3: sentinel= without tenant_redis_sentinel fails nginx -t
--- http_config
    tenant_redis sentinel=mymaster;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
"tenant_redis sentinel=mymaster" needs the Sentinels' addresses: add "tenant_redis_sentinel"



=== TEST 4: tenant_redis_sentinel without sentinel= fails nginx -t
--- http_config
    tenant_redis 127.0.0.1:6379;
    tenant_redis_sentinel 127.0.0.1:26379;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
"tenant_redis_sentinel" is only used with "tenant_redis sentinel=NAME"



=== TEST 5: tenant_redis_ssl_* without tenant_redis fails nginx -t
--- http_config
    tenant_redis_ssl_verify off;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
"tenant_redis_*" directives need "tenant_redis"



=== TEST 6: username= without password= fails nginx -t
--- http_config
    tenant_redis 127.0.0.1:6379 username=gateway;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
"username=" needs "password=" too



=== TEST 7: a wrong password= is not echoed in the error
--- http_config
    tenant_redis 127.0.0.1:6379 password=;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "password="



=== TEST 8: an unknown parameter is named
--- http_config
    tenant_redis 127.0.0.1:6379 ssl;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "ssl"



=== TEST 9: with TLS through Sentinel and verification, the server name is required
--- http_config
    tenant_redis sentinel=mymaster tls;
    tenant_redis_sentinel 127.0.0.1:26379;
    tenant_redis_ssl_trusted_certificate $TEST_NGINX_DATA_DIR/rsa.pub;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
set the name its certificate holds with "tenant_redis_ssl_server_name"



=== TEST 10: a host name with no resolver at the http level is resolved at configuration time
--- http_config
    tenant_redis no-such-host.invalid:6379;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
no-such-host.invalid



=== TEST 11: with a resolver at the http level, a host name is left for the workers, nginx starts
--- http_config
    resolver 127.0.0.1:1 valid=1s;
    resolver_timeout 200ms;
    tenant_redis no-such-host.invalid:6379 timeout=100ms;
--- config
    location /t { echo ok; }
--- request
GET /t
--- response_body
ok



=== TEST 12: tenant_redis_sentinel takes Sentinel parameters, a Sentinel address is required
--- http_config
    tenant_redis sentinel=mymaster;
    tenant_redis_sentinel password=x;
--- config
    location /t { echo ok; }
--- request
GET /t
--- must_die
--- error_log
no Sentinel address
