# Keys from URLs under load: a rotation while clients send tokens without
# pause, a flood of made-up kids, a reload of the gateway, a slow IdP.
# Each client is a process of its own with a keep-alive connection; it
# writes one line per answer (when, what it sent, the status), so the
# numbers below are counted, not sampled.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use TenantTest;
use TenantIdp;

my $idp = TenantIdp->new(port => TenantIdp::base() + 40);
my $tmp = tempdir('tenant-load-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub gateway {
    my (%o) = @_;
    return TenantIdp::Gateway->new(
        port => TenantIdp::base() + 45,
        workers => $o{workers} || 2,
        http => "tenant_jwt_ssl_trusted_certificate ${\ $idp->ca };",
        server => <<"END");
        location /t {
            tenant_jwt on;
            tenant_jwt_jwks_url ${\ $idp->url($o{path}) } $o{params};
            echo "tenant=\$tenant_id";
        }
END
}

# distinct tokens per key, so that the verified-token cache is not all
my %tokens;
for my $kid (qw(k1 k2)) {
    my $key = $kid eq 'k1' ? 'rsa.key' : 'rsa2.key';
    $tokens{$kid} = [ map { jwt(alg => 'RS256', key => $key, kid => $kid,
                                claims => { sub => "user-$_" }) } 1 .. 20 ];
}

# the same token under another kid: the gateway looks the kid up first
sub with_kid {
    my ($token, $kid) = @_;
    my (undef, $payload, $sig) = split /\./, $token;
    return join '.', b64u(json_text({ alg => 'RS256', kid => $kid })),
                     $payload, $sig;
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', "$file.tmp" or die $!;
    print $fh $text;
    close $fh;
    rename "$file.tmp", $file or die $!;
}

sub read_file {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh>;
}

# clients(gw, n, pick): n processes; pick->($i) gives (label, token) or
# nothing to stop; each writes "time label status seconds" lines
sub clients {
    my ($gw, $n, $pick, $name) = @_;
    my @pids;
    for my $c (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 1);
            open my $out, '>', "$tmp/$name.$c" or die $!;
            my $i = 0;
            while (my ($label, $token) = $pick->($c, $i++)) {
                my $t0 = time;
                my $r = $http->get("http://127.0.0.1:$gw->{port}/t",
                    { headers => { Authorization => "Bearer $token" } });
                printf $out "%.3f %s %d %.3f\n", $t0, $label, $r->{status},
                       time - $t0;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return sub {
        waitpid $_, 0 for @pids;
        return map { [ split ' ' ] }
               map { split /\n/, read_file("$tmp/$name.$_") } 1 .. $n;
    };
}


subtest 'rotation under load: no token of a published key is refused; ' .
        'a dropped key stops at once on the next unknown kid' => sub {
    my $phase = "$tmp/phase";
    write_file($phase, 'k1');
    $idp->publish('/load.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(path => '/load.json',
                     params => 'refresh=10m min_refresh=1s');
    is $gw->status('/t', $tokens{k1}[0]), 200, 'k1 admitted';

    # the IdP's signing key is the phase's; a client stops at "stop"
    my $wait = clients($gw, 4, sub {
        my ($c, $i) = @_;
        my $kid = read_file($phase);
        return if $kid eq 'stop' || $kid eq '';
        return ($kid, $tokens{$kid}[($c * 7 + $i) % 20]);
    }, 'rot');

    sleep 1.5;
    $idp->publish('/load.json', $idp->jwks(k1 => 'rsa.key', k2 => 'rsa2.key'));
    sleep 1.5;                       # more than min_refresh
    write_file($phase, 'k2');        # signing switches to k2
    sleep 1.5;
    $idp->publish('/load.json', $idp->jwks(k2 => 'rsa2.key'));
    my $dropped = time;
    sleep 1.2;                       # more than min_refresh
    is $gw->status('/t', with_kid($tokens{k2}[0], 'made-up')), 401,
       'an unknown kid is refused (and the set fetched again)';
    my $refused_k1 = $gw->status('/t', $tokens{k1}[1]);
    my $k1_after = time - $dropped;
    my $fetches = $idp->fetches('/load.json');
    sleep 1;
    write_file($phase, 'stop');

    my @r = $wait->();
    my %n;
    $n{"$_->[1] $_->[2]"}++ for @r;
    my @refused = grep { $_->[2] != 200 } @r;
    my $k1 = grep { $_->[1] eq 'k1' } @r;
    my $k2 = grep { $_->[1] eq 'k2' } @r;
    note join ', ', map { "$_: $n{$_}" } sort keys %n;
    cmp_ok scalar @r, '>', 200, scalar(@r) . " requests by 4 clients "
                                . "($k1 with k1, $k2 with k2)";
    ok $k1 > 50 && $k2 > 50, 'both keys signed a share';
    is scalar @refused, 0, 'refusals of a published key\'s token: '
                           . scalar @refused;
    is $refused_k1, 401, sprintf 'k1 refused %.1f s after it was dropped',
                                 $k1_after;
    is $gw->status('/t', $tokens{k1}[2]), 401, 'and stays refused';
    is $fetches, 3,
       'fetches: at start, for k2, for the made-up kid';
    unlike $gw->error_log, qr/\[error\]|\[alert\]/, 'no error logged';
};


subtest '1000 made-up kids in about a second: one fetch per min_refresh' => sub {
    $idp->publish('/flood2.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(path => '/flood2.json',
                     params => 'refresh=10m min_refresh=3s');
    is $gw->status('/t', $tokens{k1}[0]), 200, 'k1 admitted';
    sleep 3.1;                       # the start's fetch is min_refresh ago
    my $before = $idp->fetches('/flood2.json');
    my $t0 = time;
    my $wait = clients($gw, 8, sub {
        my ($c, $i) = @_;
        return if $i >= 125;
        return ('made-up', with_kid($tokens{k1}[0],
                                    "made-up-$c-$i-" . int rand 1e9));
    }, 'flood');
    my @r = $wait->();
    my $elapsed = time - $t0;
    my $fetched = $idp->fetches('/flood2.json') - $before;
    my %status;
    $status{ $_->[2] }++ for @r;
    is_deeply \%status, { 401 => 1000 }, '1000 refused with 401';
    cmp_ok $fetched, '<=', 1 + int($elapsed / 3),
           sprintf '%d fetch(es) for 1000 requests in %.2f s', $fetched,
                   $elapsed;
    cmp_ok $fetched, '>=', 1, 'an unknown kid was looked for';
    is $gw->status('/t', $tokens{k1}[3]), 200, 'k1 still admitted';
};


subtest 'a reload keeps the node\'s keys: no fetch, admitted at once' => sub {
    $idp->publish('/reload.json', $idp->jwks(k1 => 'rsa.key'));
    my $gw = gateway(path => '/reload.json',
                     params => 'refresh=10m min_refresh=1s');
    is $gw->status('/t', $tokens{k1}[0]), 200, 'k1 admitted';
    is $idp->fetches('/reload.json'), 1, 'one fetch';

    # the IdP cannot answer any more: what is admitted is the shared set
    unlink "$idp->{dir}/www/reload.json";
    my $log_before = length $gw->error_log;
    kill 'HUP', $gw->{pid};
    my $t0 = time;
    my @new;
    while (time < $t0 + 30) {
        @new = new_workers($gw, $log_before);
        last if @new == 2;
        sleep 0.02;
    }
    is scalar @new, 2, 'two new workers';
    my %status;
    $status{ $gw->status('/t', $tokens{k1}[$_ % 20]) }++ for 1 .. 20;
    my $took = time - $t0;
    is_deeply \%status, { 200 => 20 },
              sprintf 'k1 admitted by the new workers, %.2f s after HUP', $took;
    is $idp->fetches('/reload.json'), 1, 'no fetch after the reload';
    unlike $gw->error_log, qr/cannot fetch keys/, 'nothing asked of the IdP';
};

# the workers the master started since the error log was $pos long, as
# it logs them ("start worker process N"): ps would show valgrind's
# command line, not nginx's process title, under make test-valgrind
sub new_workers {
    my ($gw, $pos) = @_;
    return grep { kill 0, $_ }
           substr($gw->error_log, $pos) =~ /start worker process (\d+)/g;
}


subtest 'a slow IdP: no request waits past timeout' => sub {
    my $gw = gateway(path => '/slow.json',
                     params => 'refresh=10m min_refresh=1s timeout=1s');
    my $wait = clients($gw, 10, sub {
        my ($c, $i) = @_;
        return if $i >= 3;
        return ('k1', $tokens{k1}[$c]);
    }, 'slow');
    my @r = $wait->();
    my ($max) = sort { $b <=> $a } map { $_->[3] } @r;
    my %status;
    $status{ $_->[2] }++ for @r;
    is_deeply \%status, { 503 => 30 }, '30 answered 503';
    # the IdP answers after 3 s: a request that waited for it took 3 s;
    # under valgrind a request alone takes a good part of a second
    my $bound = $ENV{TEST_NGINX_USE_VALGRIND} ? 2.5 : 1.5;
    cmp_ok $max, '<', $bound,
           sprintf 'the longest wait: %.2f s (timeout=1s)', $max;
};


done_testing;
