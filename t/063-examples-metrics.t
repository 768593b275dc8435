use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

# conf.d/metrics.conf runs here as it is shipped, like the other examples
# in t/060-examples.t, with only its placeholders replaced: the key file
# under /etc/nginx/tenant/ by the fixture in t/data, "listen 8080" by a
# port next to the test server's, the upstream 127.0.0.1:8081 by the test
# server itself.
#
# A request goes   client -> test server /gw/...   (--- config, below)
#                         -> the example's server  (--- http_config)
#                         -> test server /...      (the example's upstream)
# and the scrape comes from 127.0.0.1, which the example allows.

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = $Test::Nginx::Util::ServerPort + 1;

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

    return $conf;
}

sub front {
    return <<"_EOC_";
    location /gw/ {
        proxy_pass http://127.0.0.1:$GW/;
    }

    location / {
        echo "upstream";
    }
_EOC_
}

sub auth_rs256 { "Authorization: Bearer " . TenantTest::jwt(alg => 'RS256', @_) }

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: metrics.conf counts each tenant's requests and serves them at /metrics, without a token, to 127.0.0.1
--- http_config eval: main::example('metrics.conf')
--- config eval: main::front()
--- request eval
[ "GET /gw/api/orders", "GET /gw/api/orders", "GET /gw/api/orders",
  "GET /gw/api/orders", "GET /gw/metrics" ]
--- more_headers eval
[ main::auth_rs256(claims => { org_id => 'acme' }),
  main::auth_rs256(claims => { org_id => 'acme' }),
  main::auth_rs256(claims => { org_id => 'globex' }),
  main::auth_rs256(alg => 'HS256'),
  "" ]
--- error_code eval
[200, 200, 200, 401, 200]
--- response_headers eval
[ ({}) x 4, { "Content-Type" => "text/plain; version=0.0.4; charset=utf-8" } ]
--- response_body_like eval
[ (qr/upstream/) x 3, qr/invalid_token/,
  qr/\A(?=[\s\S]*^tenant_requests_total\{tenant="acme",result="admitted"\} 2$)(?=[\s\S]*^tenant_requests_total\{tenant="globex",result="admitted"\} 1$)(?=[\s\S]*^tenant_requests_total\{tenant="_none",result="invalid_token"\} 1$)(?=[\s\S]*^tenant_metrics_tenants_max 1000$)/m ]



=== TEST 2: metrics.conf: a request without a token is counted under "_none"; the scrape itself is not counted
--- http_config eval: main::example('metrics.conf')
--- config eval: main::front()
--- request eval
[ "GET /gw/api/orders", "GET /gw/metrics", "GET /gw/metrics" ]
--- error_code eval
[401, 200, 200]
--- response_body_like eval
[ qr/missing_token/, qr/tenant_metrics_tenants 0/,
  qr/\A(?=[\s\S]*^tenant_requests_total\{tenant="_none",result="missing_token"\} 1$)(?![\s\S]*result="admitted")(?=[\s\S]*^tenant_metrics_tenants 0$)/m ]
--- no_error_log
[emerg]
[error]
