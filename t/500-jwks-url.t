# Keys from URLs (tenant_jwt_jwks_url): fetched over HTTPS from a local
# IdP in the background, shared by the workers, fetched again at once
# for an unknown "kid" (at most once per min_refresh), kept while the IdP
# fails until max_stale, then dropped: 503 keys_unavailable.
#
# Each scenario runs one IdP and one gateway of its own and changes what
# the IdP answers between requests, which a Test::Nginx block cannot.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TenantTest;
use TenantIdp;

my $idp = TenantIdp->new;

sub gateway {
    my (%o) = @_;
    my $params = $o{params} || 'refresh=10m min_refresh=1s';
    my $url = $o{url} || $idp->url('/jwks.json');
    my $directive = $o{directive} || 'tenant_jwt_jwks_url';
    return TenantIdp::Gateway->new(
        workers => $o{workers},
        http => "tenant_jwt_ssl_trusted_certificate ${\ $idp->ca };\n"
                . ($o{http} || ''),
        server => <<"END");
        location /t {
            tenant_jwt on;
            $directive $url $params;
            echo "tenant=\$tenant_id";
        }
END
}

sub token { jwt(alg => 'RS256', key => $_[0], kid => $_[1]) }

my $k1 = token('rsa.key', 'k1');
my $k2 = token('rsa2.key', 'k2');


subtest 'a token signed with a key of the URL\'s set is admitted' => sub {
    $idp->publish('/jwks.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway();
    my ($status, $body) = $gw->get('/t', $k1);
    is $status, 200, 'admitted';
    is $body, "tenant=acme\n", 'tenant from the token';
    is $gw->status('/t', token('rsa2.key', 'k1')), 401,
       'a wrong signature under a known kid is refused';
    unlike $gw->error_log, qr/\[error\]/, 'no error logged';
};


subtest 'keys over plain http too' => sub {
    $idp->publish('/plain.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->http_url('/plain.json'));
    is $gw->status('/t', $k1), 200, 'admitted';
};


subtest 'rotation: a new kid is fetched at once, a dropped key stops ' .
        'admitting its tokens' => sub {
    $idp->publish('/rot.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->url('/rot.json'),
                     params => 'refresh=2s min_refresh=1s');
    is $gw->status('/t', $k1), 200, 'k1 admitted';
    is $gw->status('/t', $k1), 200, 'k1 admitted again (cached)';

    $idp->publish('/rot.json', $idp->jwks(k1 => 'rsa.key', k2 => 'rsa2.key'));
    sleep 1.1;
    is $gw->status('/t', $k2), 200, 'k2 admitted: unknown kid, fetched at once';
    is $gw->status('/t', $k1), 200, 'k1 still admitted';

    $idp->publish('/rot.json', $idp->jwks(k2 => 'rsa2.key'));
    sleep 3.2;
    is $gw->status('/t', $k1), 401, 'k1 refused once k1 is gone (within refresh)';
    is $gw->status('/t', $k2), 200, 'k2 admitted';
};


subtest 'made-up kids never flood the IdP: one fetch per min_refresh' => sub {
    $idp->publish('/flood.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->url('/flood.json'),
                     params => 'refresh=10m min_refresh=3s');
    is $gw->status('/t', $k1), 200, 'k1 admitted';
    my $before = $idp->fetches('/flood.json');
    my $t0 = time;
    my %status;
    for my $i (1 .. 60) {
        my ($s) = $gw->get('/t', token('rsa.key', "made-up-$i-" . rand()));
        $status{$s}++;
    }
    my $elapsed = time - $t0;
    is_deeply \%status, { 401 => 60 }, 'all refused with 401';
    my $fetched = $idp->fetches('/flood.json') - $before;
    cmp_ok $fetched, '<=', 1 + int($elapsed / 3),
           "$fetched fetches in ${\ sprintf '%.1f', $elapsed} s";
};


subtest 'made-up kids without pause: fetches min_refresh apart, to the ' .
        'millisecond' => sub {
    # Counted in whole seconds, a fetch at x.4 s and one at x+1.0 s were
    # "1 s" apart.  Each round starts its flood after an idle while of a
    # random length, so its first fetch falls at a random fraction of a
    # second; the flood then asks for the next as soon as it is allowed:
    # min_refresh later, not at the next whole second.
    $idp->publish('/gaps.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->http_url('/gaps.json'),
                     params => 'refresh=10m min_refresh=1s');
    is $gw->status('/t', $k1), 200, 'k1 admitted';
    my %status;
    for my $round (1 .. 3) {
        sleep 1.1 + rand 0.8;
        my $t0 = time;
        while (time < $t0 + 1.3) {
            my ($s) = $gw->get('/t', token('rsa.key', "made-up-" . rand()));
            $status{$s}++;
        }
    }
    is_deeply [ keys %status ], [ 401 ], 'all refused with 401';
    my @t = $idp->fetch_times('/gaps.json');
    my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
    cmp_ok scalar @t, '>=', 7, scalar(@t) . ' fetches: at start, two a round';
    # the IdP logs a fetch once it has answered it, some milliseconds
    # after the gateway started it: 0.9 s leaves them room
    my ($min) = sort { $a <=> $b } @gaps;
    cmp_ok $min, '>=', 0.9, sprintf 'the shortest gap: %.3f s (%s)', $min,
           join ' ', map { sprintf '%.3f', $_ } @gaps;
};


subtest 'one fetch per node with two workers' => sub {
    $idp->publish('/node.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->url('/node.json'), workers => 2,
                     params => 'refresh=10m min_refresh=10s');
    sleep 1;
    my %status;
    $status{ ($gw->get('/t', $k1))[0] }++ for 1 .. 40;
    is_deeply \%status, { 200 => 40 }, 'admitted by both workers';
    is $idp->fetches('/node.json'), 1, 'the IdP was asked once';
};


subtest 'IdP down at start: nginx starts, 503 keys_unavailable' => sub {
    my $gw = gateway(url => 'https://localhost:' . ($idp->{port} + 5)
                            . '/jwks.json',
                     params => 'refresh=10m min_refresh=1s timeout=1s');
    ok $gw->started, 'nginx starts without the IdP';
    my ($status, $body) = $gw->get('/t', $k1);
    is $status, 503, 'answered 503';
    like $body, qr/"error":"keys_unavailable"/, 'keys_unavailable';
    like $gw->error_log, qr/\[error\].*cannot fetch keys from.*no keys/,
         'the failure is logged';
};


subtest 'an IdP whose certificate another CA signed gives no keys' => sub {
    my $other = TenantIdp->new(port => $idp->{port} + 5);
    $other->publish('/jwks.json', $other->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $other->url('/jwks.json'),
                     params => 'refresh=10m min_refresh=1s timeout=1s');
    is $gw->status('/t', $k1), 503, 'answered 503';
    like $gw->error_log, qr/certificate verify error/, 'verify error logged';
    is $other->fetches('/jwks.json'), 0, 'nothing was asked of it';
};


subtest 'tenant_jwt_ssl_verify off: any certificate' => sub {
    my $other = TenantIdp->new(port => $idp->{port} + 5);
    $other->publish('/jwks.json', $other->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $other->url('/jwks.json'),
                     http => 'tenant_jwt_ssl_verify off;');
    is $gw->status('/t', $k1), 200, 'admitted';
};


subtest 'IdP down at start, then up: admitted' => sub {
    my $port = $idp->{http_port} + 20;
    my $gw = gateway(url => "http://127.0.0.1:$port/jwks.json",
                     params => 'refresh=10m min_refresh=1s timeout=1s');
    is $gw->status('/t', $k1), 503, '503 while down';
    my $late = TenantIdp->new(port => $port - 1);
    $late->publish('/jwks.json', $late->jwks(k1 => 'rsa.key'));
    sleep 1.2;
    is $gw->status('/t', $k1), 200, 'admitted once up';
};


subtest 'IdP down later: old keys kept, dropped after max_stale' => sub {
    my $port = $idp->{http_port} + 30;
    my $own = TenantIdp->new(port => $port - 1);
    $own->publish('/jwks.json', $own->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => "http://127.0.0.1:$port/jwks.json",
                     params => 'refresh=1s min_refresh=1s max_stale=6s '
                               . 'timeout=1s');
    is $gw->status('/t', $k1), 200, 'admitted';
    # refresh=1s: the last good fetch was at most a second before the stop,
    # so the keys are kept until 5 s after it at least, dropped 7 s after
    # it at most (max_stale, and the next refresh that finds them stale)
    $own->stop;
    my $stopped = time;
    sleep 1.5;
    is $gw->status('/t', $k1), 200, 'kept while the IdP is down';
    like $gw->error_log, qr/cannot fetch keys from.*kept until max_stale/,
         'the failure is logged, keys kept';
    sleep 0.1 while time < $stopped + 8;
    my ($status, $body) = $gw->get('/t', $k1);
    is $status, 503, 'dropped after max_stale';
    like $body, qr/keys_unavailable/, 'keys_unavailable';
    my @lines = $gw->error_log =~ /cannot fetch keys/g;
    cmp_ok scalar @lines, '<=', 2, 'failures logged at most once a minute';
};


subtest 'a slow IdP: no request waits past timeout' => sub {
    my $gw = gateway(url => $idp->url('/slow.json'),
                     params => 'refresh=10m min_refresh=1s timeout=1s');
    my $t0 = time;
    my ($status) = $gw->get('/t', $k1);
    my $took = time - $t0;
    is $status, 503, 'answered 503';
    cmp_ok $took, '<', 2, sprintf 'answered in %.1f s', $took;
};


for my $case (['a non-200 answer', '/error.json', qr/answered 500/],
              ['invalid JSON', '/garbage.json', qr/not JSON/],
              ['a 2 MB body', '/big.json', qr/larger than/],
              ['a redirect loop', '/loop.json',
               qr/answered 302 \(redirects are not followed\)/],
              ['a set with no usable key', '/nokey.json',
               qr/no "keys" array/])
{
    my ($what, $path, $log) = @$case;

    subtest "$what: no keys, 503 keys_unavailable" => sub {
        $idp->publish('/garbage.json', '{"keys": [');
        $idp->publish('/big.json', '{"keys":[], "x":"' . ('x' x 2_000_000)
                                   . '"}');
        $idp->publish('/nokey.json', '{"keys": []}');
        my $gw = gateway(url => $idp->url($path),
                         params => 'refresh=10m min_refresh=1s timeout=2s');
        my ($status, $body) = $gw->get('/t', $k1);
        is $status, 503, 'answered 503';
        like $body, qr/keys_unavailable/, 'keys_unavailable';
        like $gw->error_log, $log, 'the reason is logged';
    };
}


subtest 'garbage after a good set: the good set is kept' => sub {
    $idp->publish('/swap.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(url => $idp->url('/swap.json'),
                     params => 'refresh=1s min_refresh=1s');
    is $gw->status('/t', $k1), 200, 'admitted';
    $idp->publish('/swap.json', 'not json');
    sleep 2.2;
    is $gw->status('/t', $k1), 200, 'still admitted';
    like $gw->error_log, qr/not JSON/, 'the garbage is logged';
};


subtest 'discovery: the jwks_uri of the issuer\'s document; its issuer ' .
        'is required of tokens' => sub {
    my $issuer = $idp->url('/disc');
    $idp->publish('/disc/.well-known/openid-configuration',
                  $idp->discovery($issuer, $idp->url('/disc/keys.json')));
    $idp->publish('/disc/keys.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(directive => 'tenant_jwt_discovery', url => $issuer);
    my $good = jwt(alg => 'RS256', key => 'rsa.key', kid => 'k1',
                   claims => { iss => $issuer });
    is $gw->status('/t', $good), 200, 'a token of that issuer is admitted';
    is $gw->status('/t', $k1), 401, 'a token without it is refused';
    is $idp->fetches('/disc/keys.json'), 1, 'the set was fetched once';
};


subtest 'discovery: a document of another issuer gives no keys' => sub {
    my $issuer = $idp->url('/other');
    $idp->publish('/other/.well-known/openid-configuration',
                  $idp->discovery('https://evil.example',
                                  $idp->url('/disc/keys.json')));
    my $gw = gateway(directive => 'tenant_jwt_discovery', url => $issuer);
    my $tok = jwt(alg => 'RS256', key => 'rsa.key', kid => 'k1',
                  claims => { iss => $issuer });
    is $gw->status('/t', $tok), 503, '503 keys_unavailable';
    like $gw->error_log, qr/"issuer" is not the configured issuer/,
         'the reason is logged';
};


subtest 'nginx -t: https with verification needs a trusted certificate'
=> sub {
    my $gw = TenantIdp::Gateway->new(server => <<'END');
        location /t {
            tenant_jwt on;
            tenant_jwt_jwks_url https://localhost/jwks.json;
        }
END
    ok !$gw->started, 'refused';
    like $gw->stderr, qr/need "tenant_jwt_ssl_trusted_certificate"/,
         'says what is missing';
};


done_testing;
