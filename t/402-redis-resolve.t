#!/usr/bin/perl
#
# tenant_redis with a host name: nginx's resolver (http level) resolves it
# again at every reconnect, so the gateway follows the name without a
# reload.  A plain Test::More script, like t/105-redis-live.t, since nginx
# must keep running while the name moves: TenantTopology runs a DNS server
# (Net::DNS::Nameserver, TTL 1) on a free UDP port and two redis-servers on
# the same port, twin1 on 127.0.0.1 and twin2 on 127.0.0.2; TenantNginx
# runs one nginx (master + 1 worker) with
#
#   resolver 127.0.0.1:DNS_PORT valid=1s;
#   tenant_redis redis.test:TWIN_PORT timeout=100ms;
#
# State that exists on one twin only (a suspended tenant) tells which one
# the gateway asks.  Loopback only; bounded by an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantTopology qw(dns twins);
use TenantNginx;

$SIG{ALRM} = sub { die "402-redis-resolve.t: time limit (60 s) reached\n" };
alarm 60;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $DNS = dns_port();
my $PORT = port_of('twin1');

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.1);           # tenant_redis timeout=
my $FAST = $TIMEOUT + scaled(0.3);   # a failure policy's answer

# one tenant suspended on each twin: which one answers 403 tells the twin
rcmd($_, 'FLUSHALL') for qw(twin1 twin2);
rcmd('twin1', 'HSET', 'tenant:{on-one}', 'status', 'suspended');
rcmd('twin2', 'HSET', 'tenant:{on-two}', 'status', 'suspended');
my %T = map { $_ => token($_) } qw(on-one on-two plain);

# which twin the gateway asks now: "twin1", "twin2", or what it answered
sub asked {
    my ($n) = @_;
    my $one = api($n, $T{'on-one'});
    my $two = api($n, $T{'on-two'});
    return 'twin1' if $one->{status} == 403 && $two->{status} == 200
                      && $two->{limit} eq 'PASSED';
    return 'twin2' if $two->{status} == 403 && $one->{status} == 200
                      && $one->{limit} eq 'PASSED';
    return "$one->{status} $one->{limit}/$two->{status} $two->{limit}";
}

# like() on an error log, showing only its "tenant: " lines on failure
sub log_like {
    my ($log, $re, $what) = @_;
    ok $log =~ $re, $what
        or diag join "\n", (grep { /tenant: / && !/rejected with/ } split /\n/, $log)[0 .. 9];
}

# polls asked() until it is $want; returns the seconds it took, or undef
sub follows {
    my ($n, $want, $limit) = @_;
    my $t0 = time;
    my $got = wait_until(scaled($limit), sub { asked($n) eq $want }, 0.05);
    return $got ? time - $t0 : undef;
}

dns_set('redis.test' => '127.0.0.1');

my $N = eval { nginx_start('a', redis => <<"_EOC_");
    resolver 127.0.0.1:$DNS valid=1s;
    tenant_redis redis.test:$PORT timeout=${\ ($TIMEOUT * 1000)}ms;
_EOC_
} or do { fail("nginx starts with this configuration: $@"); done_testing(); exit 1 };

subtest 'a. the name is resolved by the resolver: redis.test -> 127.0.0.1 (twin1)' => sub {
    my $t = follows($N, 'twin1', 3);
    ok defined $t, 'the gateway asks twin1'
        or diag 'it answered: ' . asked($N);
    my @q = grep { $_->[0] eq 'redis.test' && $_->[1] eq 'A' } @{ dns_queries() };
    ok @q >= 1, 'through the DNS server (' . scalar(@q) . ' A queries for redis.test)';
    my $r = api($N, $T{plain}, path => '/api-deny');
    is "$r->{status} $r->{limit}", '200 PASSED', 'a decision passes';
    unlike error_log($N), qr/\[error\]/, 'no [error] logged';
};

subtest 'b. the name moves to 127.0.0.2 and twin1 stops: the gateway follows without a reload' => sub {
    my @workers = worker_pids($N);
    my $pos = length error_log($N);
    dns_set('redis.test' => '127.0.0.2');
    server_stop('twin1');
    my $t0 = time;
    my (@bad, $moved);
    while (time - $t0 < 5) {
        my $r = api($N, $T{'on-two'}, path => '/api-deny');
        push @bad, sprintf('%.2fs: %s %s %s %.3fs', time - $t0, $r->{status},
                           $r->{limit}, $r->{error}, $r->{took})
            unless ($r->{status} == 403 && $r->{error} eq 'tenant_suspended')
                || ($r->{status} == 503 && $r->{error} eq 'limiter_unavailable'
                    && $r->{took} < $FAST);
        if ($r->{status} == 403) { $moved = time - $t0; last }
        sleep 0.05;
    }
    diag sprintf 'name moved, twin1 stopped: the gateway asks twin2 after %s',
        defined $moved ? sprintf('%.2fs', $moved) : 'never';
    ok defined $moved && $moved < 3,
       'a tenant suspended only on twin2 is refused within 3 s';
    is_deeply \@bad, [], 'meanwhile: 503 limiter_unavailable, fast, or 403 from twin2';
    is asked($N), 'twin2', 'and twin2 is the one asked from then on';
    is_deeply [worker_pids($N)], \@workers, 'the same worker: no reload, no restart';
    my $log = error_log_since($N, $pos);
    log_like $log, qr/\[error\] [^\n]*tenant: [^\n]*(?:redis\.test|127\.0\.0\.1:$PORT)/,
         'the lost connection is logged at [error]';
    log_like $log, qr/\[warn\] [^\n]*tenant: [^\n]*restored/,
         '"connection restored" logged at [warn]';
    my @q = grep { $_->[0] eq 'redis.test' && $_->[3] && $_->[3] eq '127.0.0.2' }
            @{ dns_queries() };
    ok @q >= 1, 'the name was resolved again (answered 127.0.0.2)';
};

subtest 'c. twin1 back, the name back to 127.0.0.1, twin2 drops the connection: resolved again at the reconnect' => sub {
    server_start(name => 'twin1');
    rcmd('twin1', 'HSET', 'tenant:{on-one}', 'status', 'suspended');
    dns_set('redis.test' => '127.0.0.1');
    # the answer nginx holds (valid=1s) has expired: nginx counts whole
    # seconds, so an answer is kept until the second after valid= runs out
    sleep 2.1;
    is asked($N), 'twin2', 'with its connection up, the gateway stays on twin2';
    my $killed = rcmd('twin2', 'CLIENT', 'KILL', 'TYPE', 'normal');
    ok $killed >= 1, "twin2 drops the gateway's connection ($killed)";
    my $t = follows($N, 'twin1', 3);
    diag sprintf 'reconnected to twin1 after %s', defined $t ? sprintf('%.2fs', $t) : 'never';
    ok defined $t, 'the reconnect resolved the name again: twin1 is asked';
};

subtest 'd. a name that does not resolve (NXDOMAIN): failure policy, logged' => sub {
    dns_set('redis.test' => undef);
    sleep 2.1;    # nginx's answer for the name (valid=1s) has expired
    my $pos = length error_log($N);
    rcmd('twin1', 'CLIENT', 'KILL', 'TYPE', 'normal');
    my $t0 = time;
    my $r;
    wait_until(3, sub {
        $r = api($N, $T{plain}, path => '/api-deny');
        $r->{status} == 503;
    }, 0.05);
    is "$r->{status} $r->{error}", '503 limiter_unavailable', 'deny: 503 limiter_unavailable';
    my $a = api($N, $T{plain});
    is "$a->{status} $a->{limit}", '200 UNAVAILABLE', 'allow: 200 UNAVAILABLE';
    ok $a->{took} < $FAST, sprintf 'and fast (%.3fs)', $a->{took};
    wait_until(2, sub { error_log_since($N, $pos) =~ /\[error\][^\n]*redis\.test/ });
    log_like error_log_since($N, $pos), qr/\[error\] [^\n]*redis\.test/,
         'the name is in the [error] line';

    dns_set('redis.test' => '127.0.0.1');
    my $t = follows($N, 'twin1', 4);
    ok defined $t, 'once the name resolves again, decisions resume';
};

subtest 'e. no worker crashed' => sub {
    my $log = error_log($N);
    unlike $log, qr/exited on signal/, 'no worker exited on a signal';
    my @alert = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
    is scalar(@alert), 0, 'no [alert], [crit] or [emerg]' or diag join "\n", @alert;
};

alarm 0;
done_testing();
