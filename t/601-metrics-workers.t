# tenant_metrics with two workers: the counts in shared memory are the
# node's, whichever worker served a request or answers the scrape; they
# survive a reload; with more tenants than tenants=, exactly that many
# have series of their own and the totals still add up; promtool accepts
# every scrape.
#
# A plain Test::More script (runs the same under both runners): a real
# redis-server (TenantRedis), a gateway of its own (TenantMetrics: master,
# two workers, "reuseport" so that fresh connections reach both), tokens
# minted by TenantTest.  Counts only, no timing: the client tallies what
# came back, the scrape must say the same.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TenantTest;
use TenantRedis;
use TenantIdp ();
use TenantMetrics;

$SIG{ALRM} = sub { die "601-metrics-workers.t: time limit (240 s) reached\n" };
alarm 240;

my $PROMTOOL = '/usr/bin/promtool';

# promtool check metrics on a scrape: '' when it is happy
sub promtool {
    my ($text) = @_;
    my $f = File::Temp->new;
    print $f $text;
    close $f;
    my $out = `$PROMTOOL check metrics < $f 2>&1`;
    return $? == 0 ? '' : "exit $?: $out";
}

# expected += sent, tenant by tenant and result by result
sub add {
    my ($want, $tenant, $sent) = @_;
    $want->{$tenant}{$_} += $sent->{$_} for keys %$sent;
}

sub sums {
    my ($reqs) = @_;
    my %s;
    for my $t (keys %$reqs) {
        $s{$_} += $reqs->{$t}{$_} for keys %{ $reqs->{$t} };
    }
    return \%s;
}


subtest 'two workers: the scrape shows every tenant\'s requests, by result, '
        . 'whichever worker served them' => sub {
    my $gw = TenantMetrics::gateway(workers => 2, tenants => 100);
    my %want;

    add(\%want, 'acme', TenantMetrics::send($gw, 'acme', 40));
    add(\%want, 'globex', TenantMetrics::send($gw, 'globex', 25));
    add(\%want, 'globex', TenantMetrics::send($gw, 'globex', 5,
                                              path => '/admin',
                                              role => 'viewer'));
    add(\%want, '_none', TenantMetrics::send($gw, undef, 6, token => undef));
    add(\%want, '_none', TenantMetrics::send($gw, undef, 4,
                                             token => 'not.a.token'));

    is_deeply \%want, {
        acme => { admitted => 40 },
        globex => { admitted => 25, insufficient_role => 5 },
        _none => { missing_token => 6, invalid_token => 4 },
    }, 'the gateway answered as configured';
    is scalar(keys %{ $gw->{workers_seen} }), 2,
       'both workers served requests: '
       . join(', ', map { "$_: $gw->{workers_seen}{$_}" }
                    sort keys %{ $gw->{workers_seen} });

    my $body = TenantMetrics::body($gw);
    my $m = TenantMetrics::parse($body);
    is_deeply TenantMetrics::requests($m), \%want,
       'tenant_requests_total: the node\'s counts, tenant by tenant';
    is $m->{'tenant_redis_requests_total{result="ok"}'}, 65,
       'one EVALSHA per request of /t, counted once';
    is $m->{'tenant_redis_request_duration_seconds_count'}, 65,
       'and as many round trips timed';
    is $m->{'tenant_redis_up'}, 1, 'both workers\' links are up';
    is $m->{'tenant_jwt_verifications_total{result="ok"}'}, 70,
       'tokens verified (70 good)';
    is $m->{'tenant_jwt_verifications_total{result="invalid_token"}'}, 4,
       'and 4 bad';
    is promtool($body), '', 'promtool check metrics accepts the scrape';

    # the same counts from either worker: scrape several times
    my %answers;
    for (1 .. 10) {
        my $again = TenantMetrics::scrape($gw);
        $answers{ join ',', map { "$_=$again->{$_}" }
                  grep { /^tenant_requests_total/ } sort keys %$again }++;
    }
    is scalar(keys %answers), 1, 'ten scrapes on fresh connections agree';

    subtest 'a reload keeps the zone and its counts' => sub {
        my @workers = TenantMetrics::reload($gw);
        is scalar(@workers), 2, 'two new workers';
        my $after = TenantMetrics::scrape($gw);
        is_deeply TenantMetrics::requests($after), \%want,
           'the counts are those from before the reload';
        is $after->{'tenant_redis_requests_total{result="ok"}'}, 65,
           'and the Redis counts too';

        add(\%want, 'acme', TenantMetrics::send($gw, 'acme', 10));
        add(\%want, 'initech', TenantMetrics::send($gw, 'initech', 3));
        my $more = TenantMetrics::scrape($gw);
        is_deeply TenantMetrics::requests($more), \%want,
           'the new workers count on from there';
        is $more->{'tenant_redis_requests_total{result="ok"}'}, 78,
           '13 more EVALSHAs';

        # the up gauge is the new workers' own: wait for their links
        my $up;
        my $deadline = time + 10;
        while (time < $deadline) {
            $up = TenantMetrics::scrape($gw)->{'tenant_redis_up'};
            last if $up;
            sleep 0.1;
        }
        is $up, 1, 'tenant_redis_up: the new workers\' links are up';
    };

    subtest 'a reload that changes tenants= of the same zone is refused, '
            . 'the counts kept' => sub {
        my $log = length $gw->error_log;
        $gw->{tenants} = 50;
        $gw->write_conf;
        my @before = TenantMetrics::worker_pids($gw->{pid});
        kill 'HUP', $gw->{pid};
        my $said = '';
        my $deadline = time + 20;
        while (time < $deadline) {
            $said = substr $gw->error_log, $log;
            last if $said =~ /tenant_metrics_zone/;
            sleep 0.05;
        }
        like $said, qr/\[emerg\] .*tenant_metrics_zone "tenants" has tenants=50, it had tenants=100/,
             'the master says why';
        is_deeply [ TenantMetrics::worker_pids($gw->{pid}) ], \@before,
                  'the workers of the old configuration go on';
        is_deeply TenantMetrics::requests(TenantMetrics::scrape($gw)), \%want,
                  'with the counts';
        $gw->{tenants} = 100;
        $gw->write_conf;
    };

    $gw->stop;
};


subtest 'tenants=10 and 60 tenants: exactly 10 series and "_other", the '
        . 'totals add up, the busiest tenant keeps its series' => sub {
    my $gw = TenantMetrics::gateway(workers => 2, tenants => 10,
                                    port => TenantIdp::base() + 3);
    my %want;

    # "heavy" sends 100 of 219 requests, more than 1/10 of them all: it
    # is never evicted, whatever the order the workers counted in
    add(\%want, 'heavy', TenantMetrics::send($gw, 'heavy', 50));
    for my $i (1 .. 59) {
        add(\%want, "t$i", TenantMetrics::send($gw, "t$i", 2));
        add(\%want, 'heavy', TenantMetrics::send($gw, 'heavy', 1)) if $i % 2;
    }
    add(\%want, 'heavy', TenantMetrics::send($gw, 'heavy', 20));
    add(\%want, 't1', TenantMetrics::send($gw, 't1', 1, path => '/admin',
                                          role => 'viewer'));

    my $body = TenantMetrics::body($gw);
    my $m = TenantMetrics::parse($body);
    my $reqs = TenantMetrics::requests($m);
    my @own = grep { $_ ne '_other' && $_ ne '_none' } keys %$reqs;

    is scalar(@own), 10, 'ten tenants have series of their own';
    ok exists $reqs->{_other}, 'the rest are summed as "_other"';
    is $m->{'tenant_metrics_tenants'}, 10, 'tenant_metrics_tenants 10';
    ok $m->{'tenant_metrics_evictions_total'} >= 50,
       "at least 50 evictions ($m->{tenant_metrics_evictions_total})";
    is_deeply sums($reqs), sums(\%want),
       'for each result, the tenants and "_other" add up to what was sent '
       . '(' . join(', ', map { "$_: ${\ sums(\%want)->{$_} }" }
                          sort keys %{ sums(\%want) }) . ')';
    is_deeply $reqs->{heavy}, $want{heavy},
       'the busiest tenant has all its requests in its own series';
    for my $t (@own) {
        next if $t eq 'heavy';
        my $ok = 1;
        for my $r (keys %{ $reqs->{$t} }) {
            $ok = 0 if $reqs->{$t}{$r} > ($want{$t}{$r} // 0);
        }
        ok $ok, "$t: no more than it sent";
    }
    is promtool($body), '', 'promtool check metrics accepts the scrape';
    $gw->stop;
};

done_testing;
