# Keys from a URL whose name nginx's resolver resolves at each fetch
# ("resolver" at the http level): a name of several addresses, one of
# which refuses connections, is fetched from the next address within the
# same fetch.  TenantTopology runs the DNS server (TTL 1); the IdP
# listens on 127.0.0.1 only, so 127.0.0.9 refuses.  nginx's resolver
# hands the addresses out in a rotating order, so every fetch below
# starts at either one: without trying the next, about half would fail.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use TenantTest;
use TenantTopology qw(dns);
use TenantIdp;

$SIG{ALRM} = sub { die "503-jwks-url-resolve.t: time limit (60 s)\n" };
alarm 60;

my $idp = TenantIdp->new(port => TenantIdp::base() + 50);
my $url = "http://idp.test:$idp->{http_port}/resolve.json";

sub token { jwt(alg => 'RS256', key => 'rsa.key', kid => $_[0]) }

subtest 'a name of two addresses, one refusing: the next is tried' => sub {
    dns_set('idp.test' => [ '127.0.0.9', '127.0.0.1' ]);
    $idp->publish('/resolve.json', $idp->jwks(k0 => 'rsa.key'));
    my $gw = TenantIdp::Gateway->new(
        port => TenantIdp::base() + 55,
        http => "resolver 127.0.0.1:${\ dns_port() } valid=1s;",
        server => <<"END");
        location /t {
            tenant_jwt on;
            tenant_jwt_jwks_url $url refresh=10m min_refresh=1s timeout=2s;
            echo "tenant=\$tenant_id";
        }
END
    is $gw->status('/t', token('k0')), 200, 'admitted after the first fetch';

    # each new kid is one more fetch, from whichever address comes first
    for my $i (1 .. 5) {
        $idp->publish('/resolve.json', $idp->jwks("k$i" => 'rsa.key'));
        sleep 1.1;
        is $gw->status('/t', token("k$i")), 200, "fetch $i: k$i admitted";
    }
    is $idp->fetches('/resolve.json'), 6, 'six fetches, all answered';
    unlike $gw->error_log, qr/cannot fetch keys/, 'no fetch failed';
};

subtest 'every address refuses: the fetch fails, the last one is named'
=> sub {
    dns_set('idp.test' => [ '127.0.0.9', '127.0.0.8' ]);
    my $gw = TenantIdp::Gateway->new(
        port => TenantIdp::base() + 55,
        http => "resolver 127.0.0.1:${\ dns_port() } valid=1s;",
        server => <<"END");
        location /t {
            tenant_jwt on;
            tenant_jwt_jwks_url $url refresh=10m min_refresh=1s timeout=2s;
        }
END
    is $gw->status('/t', token('k0')), 503, '503 keys_unavailable';
    like $gw->error_log,
         qr/cannot fetch keys from .*connect\(\) to 127\.0\.0\.[89]:\d+ failed/,
         'the failure is logged';
};

done_testing;
