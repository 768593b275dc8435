#!/usr/bin/perl
#
# tenant_redis sentinel=mymaster: the master is found through Sentinel
# (SENTINEL get-master-addr-by-name), followed on +switch-master within
# about a second of a failover, and left at once when it answers
# -READONLY (a master demoted behind the gateway's back).
#
# A plain Test::More script, like t/105-redis-live.t, since nginx must
# keep running through failovers: TenantTopology runs a master (node1), a
# replica (node2) and three Sentinels (quorum 2, down-after 1 s,
# failover-timeout 3 s); TenantNginx runs one nginx (master + 1 worker)
# with
#
#   tenant_redis sentinel=mymaster timeout=100ms;
#   tenant_redis_sentinel 127.0.0.1:S1 127.0.0.1:S2 127.0.0.1:S3;
#
# Which node decides is told by INFO commandstats (EVALSHA + EVAL calls)
# on the node, or by state only that node has.  Loopback only; bounded
# by an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantTopology qw(sentinel);
use TenantNginx;

$SIG{ALRM} = sub { die "403-redis-sentinel.t: time limit (120 s) reached\n" };
alarm 120;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

# under make test-valgrind (memcheck) longer, as nginx is slower there
my $TIMEOUT = scaled(0.1);           # tenant_redis timeout=
my $FAST = $TIMEOUT + scaled(0.2);   # no request may take longer (client side)
my $TMP = $TenantNginx::TMP;

my $N = eval { nginx_start('a', redis => sprintf <<'_EOC_', $TIMEOUT * 1000, sentinel_ports());
    tenant_redis sentinel=mymaster timeout=%dms;
    tenant_redis_sentinel 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d;
_EOC_
} or do { fail("nginx starts with this configuration: $@"); done_testing(); exit 1 };

sub master_node { node_at(sentinel_master() // '') }
sub script_calls { cmd_calls($_[0], qw(evalsha eval)) }

my $tok = token('sentinel-t');

subtest 'a. decisions come from the master Sentinel names' => sub {
    my $m = master_node();
    ok $m, "the Sentinels agree on the master: $m";
    my ($replica) = grep { $_ ne $m } qw(node1 node2);
    my $ok = wait_until(3, sub { api($N, $tok)->{limit} eq 'PASSED' }, 0.05);
    ok $ok, 'a decision passes';
    my ($cm, $cr) = (script_calls($m), script_calls($replica));
    my @r = map { api($N, $tok, path => '/api-deny') } 1 .. 10;
    is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 10],
              '10 decisions: 200 PASSED';
    is script_calls($m) - $cm, 10, "all 10 ran on the master ($m)";
    is script_calls($replica) - $cr, 0, "none on the replica ($replica)";
    unlike error_log($N), qr/\[error\]/, 'no [error] logged';
};

subtest 'b. SENTINEL FAILOVER: decisions resume on the new master within 2 s of the promotion' => sub {
    my $pos = length error_log($N);
    my $old = master_node();
    my ($new) = grep { $_ ne $old } qw(node1 node2);
    my $t0 = time;
    sentinel_failover();
    my ($promoted, $resumed, @bad, @log);
    while (time - $t0 < 8) {
        if (!$promoted && (redis_role($new) // '') eq 'master') {
            $promoted = time;
        }
        my $before = $promoted ? script_calls($new) : 0;
        my $r = api($N, $tok, path => '/api-deny');
        push @log, sprintf '%.2fs %s %s %.3fs', time - $t0, $r->{status},
                           $r->{limit} || $r->{error}, $r->{took};
        push @bad, $log[-1]
            unless ($r->{status} == 200 && $r->{limit} eq 'PASSED'
                    || $r->{status} == 503 && $r->{error} eq 'limiter_unavailable')
                   && $r->{took} < $FAST;
        if ($promoted && $r->{limit} eq 'PASSED' && script_calls($new) > $before) {
            $resumed = time;
            last;
        }
        sleep 0.02;
    }
    ok $promoted, sprintf 'the replica %s was promoted (%.2fs after SENTINEL FAILOVER)',
                          $new, ($promoted // $t0) - $t0;
    my $took = defined $resumed ? $resumed - $promoted : undef;
    diag sprintf 'failover %s -> %s: decisions on the new master %s after the promotion',
        $old, $new, defined $took ? sprintf('%.2fs', $took) : 'never';
    ok defined $took && $took < 2, 'decisions resume on the new master within 2 s'
        or diag join "\n", @log[($#log > 14 ? $#log - 14 : 0) .. $#log];
    is_deeply \@bad, [], "meanwhile every request: 200 PASSED or 503 limiter_unavailable, under ${FAST}s";
    is sentinel_wait_switched($old, 5), $new, 'the Sentinels agree on the new master';

    my $c = script_calls($new);
    my @r = map { api($N, $tok, path => '/api-deny') } 1 .. 10;
    is_deeply [map { "$_->{status} $_->{limit}" } @r], [('200 PASSED') x 10],
              'then 10 decisions pass';
    is script_calls($new) - $c, 10, 'all 10 on the new master';
    note join "\n", grep { /tenant: / } split /\n/, error_log_since($N, $pos);
};

subtest 'c. the master demoted behind the gateway\'s back answers -READONLY: it is left at once' => sub {
    my $pos = length error_log($N);
    my $stale = master_node();
    my ($next) = grep { $_ ne $stale } qw(node1 node2);
    my $t = token('stale-probe');
    is api($N, $t, path => '/api-deny')->{status}, 200, "before: the tenant passes (on $stale)";
    # no failover, no +switch-master: the Sentinels are told to monitor
    # $next instead; $stale becomes a replica of nothing (read-only, keeps
    # its data), $next a master of its own, where alone the tenant is
    # suspended
    sentinel_repoint($next, sub {
        rcmd($stale, 'REPLICAOF', '127.0.0.1', '1');
        rcmd($next, 'REPLICAOF', 'NO', 'ONE');
    });
    rcmd($next, 'HSET', 'tenant:{stale-probe}', 'status', 'suspended');
    is sentinel_master(), "127.0.0.1:" . port_of($next), "the Sentinels now name $next";
    my $t0 = time;
    my ($moved, @bad, @log);
    while (time - $t0 < 5) {
        my $r = api($N, $t, path => '/api-deny');
        push @log, sprintf '%.2fs %s %s %.3fs', time - $t0, $r->{status},
                           $r->{limit} || $r->{error}, $r->{took};
        push @bad, $log[-1]
            unless ($r->{status} == 403 && $r->{error} eq 'tenant_suspended'
                    || $r->{status} == 503 && $r->{error} eq 'limiter_unavailable')
                   && $r->{took} < $FAST;
        if ($r->{status} == 403) { $moved = time - $t0; last }
        sleep 0.02;
    }
    diag sprintf 'stale master: the gateway asks %s after %s (%d requests)', $next,
        defined $moved ? sprintf('%.2fs', $moved) : 'never', scalar @log;
    ok defined $moved && $moved < 1, 'left within 1 s: the tenant suspended only on the new master is 403'
        or diag join "\n", @log[($#log > 14 ? $#log - 14 : 0) .. $#log];
    ok @log <= 3, 'at most two requests went to the stale master';
    is_deeply \@bad, [], 'meanwhile: 503 limiter_unavailable, fast';
    note join "\n", grep { /tenant: / } split /\n/, error_log_since($N, $pos);
    rcmd($next, 'DEL', 'tenant:{stale-probe}');
    ok sentinel_settle(30), "settled: $stale replicates $next, the Sentinels see it";
};

subtest 'd. under load: 4 clients through a failover see only 200, 429 or the failure policy, and decisions resume' => sub {
    my $old = master_node();
    my ($new) = grep { $_ ne $old } qw(node1 node2);
    my $start = time;
    my $end = $start + 6;
    my @files;
    my @pids = map {
        my $i = $_;
        my $file = "$TMP/load-$i.out";
        push @files, $file;
        spawn_client($file, sub {
            my ($out) = @_;
            my $ua = TenantNginx::ua(1);
            # two tenants within their rate, one over it (1r/m: 429)
            my @tok = (token("load-$i"), token("load-$i-b", 'pro'),
                       token("load-$i-solo", 'solo'));
            my $k = 0;
            while (time < $end) {
                my $path = $k % 2 ? '/api' : '/api-deny';
                my $r = api($N, $tok[$k++ % 3], ua => $ua, path => $path);
                printf $out "%.3f %s %s %s %s %.3f\n", $r->{at}, $path, $r->{status},
                       $r->{limit} || '-', $r->{error} || '-', $r->{took};
            }
        });
    } 1 .. 4;
    sleep 1.5;
    my $t0 = time;
    sentinel_failover();
    my $promoted = wait_until(5, sub { (redis_role($new) // '') eq 'master' && time }, 0.02);
    ok $promoted, sprintf '%s promoted %.2fs after SENTINEL FAILOVER', $new,
                          ($promoted // $t0) - $t0;
    # from 2 s after the promotion on, every decision runs on the new
    # master and none on the old one (which stays a writable master for
    # some 10 s, until the Sentinels turn it into a replica)
    sleep 0.02 while $promoted && time < $promoted + 2;
    my ($from, $new0, $old0) = (time, script_calls($new), script_calls($old));
    wait_kids(@pids);
    my ($new1, $old1) = (script_calls($new), script_calls($old));

    my @res = map { TenantNginx::result_lines($_) } @files;
    my (%by, @bad, @slow);
    for (@res) {
        my ($at, $path, $status, $limit, $err, $took) = @$_;
        $by{"$path $status $limit $err"}++;
        my $ok = $status == 200 && $limit =~ /^(?:PASSED|UNAVAILABLE)$/
                 && ($limit eq 'PASSED' || $path eq '/api')
              || $status == 429 && $err eq 'rate_limited'
              || $status == 503 && $err eq 'limiter_unavailable' && $path eq '/api-deny';
        push @bad, "@$_" unless $ok;
        push @slow, "@$_" if $took >= $FAST + 0.2;
    }
    diag 'outcomes: ' . join ', ', map { "$_ x $by{$_}" } sort keys %by;
    ok @res >= 100, scalar(@res) . ' requests made';
    is_deeply [@bad[0 .. ($#bad < 9 ? $#bad : 9)]], [], 'no other outcome than 200, 429 rate_limited, 503 limiter_unavailable'
        or diag scalar(@bad) . ' unexpected';
    is_deeply [@slow[0 .. ($#slow < 9 ? $#slow : 9)]], [], 'none slower than the timeout plus a margin'
        or diag scalar(@slow) . ' slow';
    my @after = grep { $promoted && $_->[0] > $promoted + 2 } @res;
    ok @after >= 20, scalar(@after) . ' requests from 2 s after the promotion on';
    my @failed = grep { $_->[3] eq 'UNAVAILABLE' || $_->[2] == 503 } @after;
    is scalar(@failed), 0, 'all of them decided (none UNAVAILABLE, none 503)'
        or diag join "\n", map { "@$_" } @failed[0 .. ($#failed < 9 ? $#failed : 9)];
    ok scalar(grep { $_->[3] eq 'PASSED' } @after), 'and decisions passed';
    my $decided = grep { $_->[0] > $from && ($_->[3] eq 'PASSED' || $_->[2] == 429) } @res;
    is $old1 - $old0, 0, "from then on no script ran on the old master ($old)";
    # the counters are sampled while the clients run: requests answered
    # around either sample fall on the other side of the window (measured:
    # up to 11 of 17,000); none ran on the old master, asserted above
    ok $new1 - $new0 >= $decided * 0.99,
       sprintf 'and the %d decisions made then ran on the new master (%d script calls)',
               $decided, $new1 - $new0;
    is sentinel_master(), '127.0.0.1:' . port_of($new), "the Sentinels name $new";
};

subtest 'e. no worker crashed' => sub {
    my $log = error_log($N);
    unlike $log, qr/exited on signal/, 'no worker exited on a signal';
    my @alert = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
    is scalar(@alert), 0, 'no [alert], [crit] or [emerg]' or diag join "\n", @alert;
};

alarm 0;
done_testing();
