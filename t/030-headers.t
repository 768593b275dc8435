use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

no_shuffle();

# Every block without its own --- config runs against this one: /t verifies
# the token and proxies to /echo, which answers with the raw request head it
# received from the proxy.  A rejected request gets the module's JSON error
# instead, so an exact --- response_body proves that /echo was never reached.
our $DefaultConfig = <<'_EOC_';
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => $DefaultConfig) unless defined $block->config;
});

run_tests();

# A regex for the whole request head that /echo received: the request line,
# the proxy's own Host and Connection, then client headers of which none may
# be named X-Tenant-* (any case, "-" or "_"), then exactly the lines in
# @$tenant, in this order, and nothing else.  Each line of @$keep must be
# there too, among the client headers.
sub upstream_saw {
    my ($tenant, $keep) = @_;
    my $re = '\A';
    $re .= '(?=[\s\S]*\r\n' . quotemeta($_) . '\r\n)' for @{ $keep || [] };
    $re .= '[A-Z]+ /echo HTTP/1\.0\r\nHost: 127\.0\.0\.1:\d+\r\nConnection: close\r\n'
         . '(?:(?!(?i:x[-_]tenant[-_]))[^\r\n]*\r\n)*';
    $re .= quotemeta($_) . '\r\n' for @$tenant;
    $re .= '\r\n\z';
    return qr/$re/;
}

sub default_identity {
    return ['X-Tenant-ID: acme', 'X-Tenant-User: user-1',
            'X-Tenant-Role: admin', 'X-Tenant-Plan: pro', @_];
}

__DATA__

=== TEST 1: spoofed X-Tenant-ID/-User/-Role/-Plan/-Permissions, mixed case and repeated, never reach the upstream
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read']}) . "
X-Tenant-ID: evil-1
x-tenant-id: evil-2
X-TENANT-ID: evil-3
X-Tenant-User: root-1
x-tenant-user: root-2
X-TeNaNt-UsEr: root-3
X-Tenant-Role: owner-1
x-tenant-role: owner-2
X-Tenant-Plan: enterprise-1
X-TENANT-PLAN: enterprise-2
X-Tenant-Plan: enterprise-3
X-Tenant-Permissions: *
x-tenant-permissions: admin:all"
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::default_identity('X-Tenant-Permissions: read'))
--- no_error_log
[error]



=== TEST 2: any other X-Tenant-* header is stripped too
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "
X-Tenant-Anything-Else: evil-1
x-tenant-region: evil-2
X-TENANT-IS-ADMIN: yes
X-Tenant-ID-Override: evil-3"
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::default_identity())
--- no_error_log
[error]



=== TEST 3: 25 spoofed X-Tenant-ID headers (more than the first header list part) are all stripped
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . CORE::join '', map { "\nX-Tenant-ID: evil-$_\nX-Keep-$_: k$_" } 1 .. 25
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::default_identity(), ['X-Keep-1: k1', 'X-Keep-13: k13', 'X-Keep-25: k25'])
--- no_error_log
[error]



=== TEST 4: with underscores_in_headers on, X_Tenant_* spellings are stripped too
--- config
    underscores_in_headers on;
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "
X_Tenant_ID: evil-1
x_tenant_role: owner
X_TENANT_PLAN: enterprise
X-Tenant_User: root
X_Tenant-Permissions: *
x_tenant_anything: evil-2
X_Other_Header: kept"
--- error_code: 200
--- response_body_like eval
# X_Other_Header proves that underscored names do reach the upstream here
main::upstream_saw(main::default_identity(), ['X_Other_Header: kept'])
--- no_error_log
[error]



=== TEST 5: unrelated headers are kept (X-Tenantid, X-Tenant, X-Tenants-Count, X-Forwarded-For, Cookie, Authorization)
--- request
GET /t
--- more_headers eval
# no exp: the same token again below, byte for byte
TenantTest::bearer(no_exp => 1) . "
X-Tenantid: keep-1
X-Tenant: keep-2
X-Tenants-Count: 3
My-X-Tenant-ID: keep-3
X-Forwarded-For: 10.1.2.3
Cookie: session=abc; tenant=evil"
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::default_identity(),
    ['X-Tenantid: keep-1', 'X-Tenant: keep-2', 'X-Tenants-Count: 3',
     'My-X-Tenant-ID: keep-3', 'X-Forwarded-For: 10.1.2.3',
     'Cookie: session=abc; tenant=evil', TenantTest::bearer(no_exp => 1)])
--- no_error_log
[error]



=== TEST 6: absent user, role, plan and permissions give no header, and spoofed ones are still stripped
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => undef, role => undef, plan => undef}) . "
X-Tenant-User: root
X-Tenant-Role: owner
X-Tenant-Plan: enterprise
X-Tenant-Permissions: *"
--- error_code: 200
--- response_body_like eval
main::upstream_saw(['X-Tenant-ID: acme'])
--- no_error_log
[error]



=== TEST 7: CR in the role is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "ad\rmin"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 8: LF in the role is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "ad\nmin"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 9: NUL in the role is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "ad\x00min"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 10: TAB in the role is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "ad\tmin"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 11: DEL in the role is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => "ad\x7fmin"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 12: CR in the user is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => "user\r-1"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 13: LF in the user is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => "user\n-1"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 14: NUL in the user is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => "user\x00-1"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 15: TAB in the user is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => "user\t-1"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 16: DEL in the user is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => "user\x7f-1"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 17: CR in the plan is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => "pro\r"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 18: LF in the plan is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => "pro\n"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 19: NUL in the plan is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => "pro\x00"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 20: TAB in the plan is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => "pro\t"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 21: DEL in the plan is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => "pro\x7f"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 22: CR in the permission element is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', "wr\rite"]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 23: LF in the permission element is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', "wr\nite"]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 24: NUL in the permission element is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', "wr\x00ite"]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 25: TAB in the permission element is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', "wr\tite"]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 26: DEL in the permission element is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', "wr\x7fite"]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 27: a role of exactly 256 bytes is forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => 'r' x 256})
--- error_code: 200
--- response_body_like eval
main::upstream_saw(['X-Tenant-ID: acme', 'X-Tenant-User: user-1',
                    'X-Tenant-Role: ' . ('r' x 256), 'X-Tenant-Plan: pro'])
--- no_error_log
[error]



=== TEST 28: a role of 257 bytes is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {role => 'r' x 257})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 29: a user of 257 bytes is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {sub => 'u' x 257})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 30: a plan of 257 bytes is invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {plan => 'p' x 257})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 31: permissions joined to exactly 256 bytes are forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['p' x 127, 'q' x 128]})
--- error_code: 200
--- response_body_like eval
main::upstream_saw(main::default_identity(
    'X-Tenant-Permissions: ' . ('p' x 127) . ',' . ('q' x 128)))
--- no_error_log
[error]



=== TEST 32: permissions joined to 257 bytes are invalid_claims, never forwarded
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['p' x 128, 'q' x 128]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 33: a permissions array with a non-string element is invalid_claims
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', 7]})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 34: a permissions array element with a comma is invalid_claims
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read', 'write,admin']})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 35: space-separated permissions with a comma in a name are invalid_claims
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => 'read write,admin'})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 36: space-separated permissions with a LF in a name are invalid_claims
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => "read wr\nite"})
--- error_code: 403
--- response_body
{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"}
--- error_log
tenant: rejected with "invalid_claims"



=== TEST 37: tenant_headers off with tenant_jwt on: nothing stripped, nothing injected, variables still set
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        tenant_headers off;
        proxy_set_header X-Org $tenant_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer(claims => {permissions => ['read']}) . "
X-Tenant-ID: client-value
X-Tenant-Role: client-role"
--- error_code: 200
--- response_body_like eval
qr{\A
   (?=[\s\S]*\r\nX-Org:\ acme\r\n)
   (?=[\s\S]*\r\nX-Tenant-ID:\ client-value\r\n)
   (?=[\s\S]*\r\nX-Tenant-Role:\ client-role\r\n)
   (?![\s\S]*\n(?i:x-tenant-id):[\s\S]*\n(?i:x-tenant-id):)
   (?![\s\S]*\n(?i:x-tenant-role):[\s\S]*\n(?i:x-tenant-role):)
   (?![\s\S]*\n(?i:x-tenant-(?:user|plan|permissions)):)
   GET\ /echo\ HTTP/1\.0\r\n[\s\S]*\r\n\r\n\z}x
--- no_error_log
[error]



=== TEST 38: tenant_headers on with tenant_jwt off strips only: no token needed, nothing injected
--- config
    location /t {
        tenant_headers on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
# a valid token is sent, yet nothing may be injected from it
TenantTest::bearer(no_exp => 1) . "
X-Tenant-ID: evil-1
x-tenant-role: owner
X-Forwarded-For: 10.1.2.3"
--- error_code: 200
--- response_body_like eval
main::upstream_saw([], ['X-Forwarded-For: 10.1.2.3', TenantTest::bearer(no_exp => 1)])
--- no_error_log
[error]



=== TEST 39: without tenant_jwt and tenant_headers, X-Tenant-* headers are left alone
--- config
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers
X-Tenant-ID: passthrough
--- error_code: 200
--- response_body_like eval
qr{\AGET /echo HTTP/1\.0\r\n[\s\S]*\r\nX-Tenant-ID: passthrough\r\n[\s\S]*\z}
--- no_error_log
[error]



=== TEST 40: proxy_set_header X-Tenant-ID $tenant_id gives exactly one X-Tenant-ID upstream
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        proxy_set_header X-Tenant-ID $tenant_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        echo -n $echo_client_request_headers;
    }
--- request
GET /t
--- more_headers eval
TenantTest::bearer() . "
X-Tenant-ID: evil-1
x-tenant-id: evil-2"
--- error_code: 200
--- response_body_like eval
qr{\A
   (?![\s\S]*:\ evil)
   (?![\s\S]*\n(?i:x[-_]tenant[-_]id):[\s\S]*\n(?i:x[-_]tenant[-_]id):)
   (?=[\s\S]*\r\nX-Tenant-User:\ user-1\r\n)
   (?=[\s\S]*\r\nX-Tenant-Role:\ admin\r\n)
   (?=[\s\S]*\r\nX-Tenant-Plan:\ pro\r\n)
   GET\ /echo\ HTTP/1\.0\r\n(?:[^\r\n]+\r\n)*X-Tenant-ID:\ acme\r\n(?:[^\r\n]+\r\n)*\r\n\z}x
--- no_error_log
[error]



=== TEST 41: a POST with a 64 KiB body is rejected cleanly, and the server answers the next request
--- request eval
["POST /t\n" . ("x" x 65536), "GET /t"]
--- more_headers eval
[TenantTest::bearer(claims => {role => "ad\r\nmin"}), TenantTest::bearer()]
--- error_code eval
[403, 200]
--- response_body_like eval
[qr/\A\{"error":"invalid_claims","message":"the token's claims cannot be forwarded safely"\}\n\z/,
 main::upstream_saw(main::default_identity())]
--- no_error_log
[error]



=== TEST 42: a POST with a body and no token is rejected cleanly, and the server answers the next request
--- request eval
["POST /t\n" . ("y" x 10000), "GET /t"]
--- more_headers eval
["Content-Type: application/octet-stream", TenantTest::bearer()]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/\A\{"error":"missing_token","message":"a bearer token is required"\}\n\z/,
 main::upstream_saw(main::default_identity())]
--- no_error_log
[error]
