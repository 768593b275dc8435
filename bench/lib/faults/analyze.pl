#!/usr/bin/perl
# The checks of bench/faults, for one policy's run directory.
#
#   POLICY=allow|deny SMALL_QUOTA=N ... analyze.pl DIR
#
# (bench/faults passes REDIS_TIMEOUT_MS RECOVERY_MS LATENCY_SLACK_MS FD_TOL
# RSS_TOL_KB SMALL_QUOTA WRK_CONNECTIONS WRK_THREADS; LATE_SLACK_MS is the
# module's NGX_HTTP_TENANT_LATE_SLACK, 1000.)  It can be run again on a
# run's directory, bench/out/faults/last/deny for instance.
#
# Reads DIR/events.tsv (the timeline), DIR/probe/*.tsv (probe.pl),
# DIR/wrk.out (load.lua's counts), DIR/gateway/logs/access.log and
# error.log, DIR/counters.tsv (the Redis quota counters at the end) and
# DIR/samples.tsv (sample.pl).  Prints the figures and a PASS or FAIL line
# per check, then "PASS: policy P" or "FAIL: policy P (...)"; exits 1 on a
# FAIL.  The settings come from the environment (see bench/faults).
#
# MODE=sentinel (the run "sentinel" of bench/faults): the faults are
# failovers ("fault", "back" the promotion, "resume NAME PID" each
# worker's first EVALSHA on the new master, from lib/faults/failover.pl);
# recovery is checked on those resume times, the quota on lost
# increments (reported, not a failure: replication is asynchronous) and
# doubled ones.
#
# MODE=cluster (the run "cluster"): the faults are a master killed
# ("clkill.N": "back" the promotion of its replica, "resume" as for
# sentinel, recovery within FAILOVER_RESUME_MS) and a slot moved
# ("reshard.N": "back" the end of the move, recovery within RECOVERY_MS);
# the quota as for sentinel; "affected NAME t1,t2" events name the
# tenants a fault may leave without Redis: "others" checks that no other
# tenant was answered without Redis meanwhile; fds allow a Redis socket
# a master and the one that reads the slot map.

use strict;
use warnings;

use List::Util qw(max min sum0);

my $dir = shift // die "usage: analyze.pl DIR\n";

my $POLICY   = $ENV{POLICY} // die "analyze.pl: POLICY unset\n";
my $MODE     = $ENV{MODE} // 'plain';
my $NAME     = $ENV{RUN_NAME} // $POLICY;
my $SENTINEL = $MODE eq 'sentinel';
my $CLUSTER  = $MODE eq 'cluster';
my $REPLICATED = $SENTINEL || $CLUSTER;   # a failover may lose increments
my $FAILOVER_RESUME = $ENV{FAILOVER_RESUME_MS} // 2000;
my $TIMEOUT  = $ENV{REDIS_TIMEOUT_MS} // 50;
my $RECOVERY = $ENV{RECOVERY_MS} // 1000;
my $SLACK    = $ENV{LATENCY_SLACK_MS} // 100;
my $FD_TOL   = $ENV{FD_TOL} // 0;
my $RSS_TOL  = $ENV{RSS_TOL_KB} // 1024;
my $QUOTA    = $ENV{SMALL_QUOTA} // die "analyze.pl: SMALL_QUOTA unset\n";
my $WRK_CONN = $ENV{WRK_CONNECTIONS} // 16;
my $WRK_THREADS = $ENV{WRK_THREADS} // 4;

# the module's slack past the timeout before a late reply stops counting
# (NGX_HTTP_TENANT_LATE_SLACK in ngx_http_tenant_limit.c)
my $LATE_SLACK = $ENV{LATE_SLACK_MS} // 1000;

my @TENANTS = qw(big1 big2 rated small exact lat);
my %EXPECTED = (allow => { 200 => 1, 429 => 1 },
                deny  => { 200 => 1, 429 => 1, 503 => 1 });
die "analyze.pl: POLICY must be allow or deny\n" unless $EXPECTED{$POLICY};

my @fails;
sub verdict {
    my ($ok, $name, $text) = @_;
    printf "%s: %-9s %s\n", $ok ? 'PASS' : 'FAIL', $name, $text;
    push @fails, $name unless $ok;
}
sub info { print "      ", @_, "\n" }
sub ms { sprintf '%.0f', $_[0] * 1000 }

# ------------------------------------------------------------- timeline

my (@phases, %t_fault, %t_back, %t_ping, @reloads, $t_start, $t_stop);
my (%t_resume, %retries, %t_settled, %affected);
open my $ev, '<', "$dir/events.tsv" or die "analyze.pl: events.tsv: $!\n";
while (<$ev>) {
    chomp;
    my ($t, $what) = split /\t/;
    if ($what =~ /^phase (\S+)/) {
        push @phases, { name => $1, start => $t };
    } elsif ($what =~ /^fault (\S+)/) {
        $t_fault{$1} = $t;
    } elsif ($what =~ /^back (\S+)/) {
        $t_back{$1} = $t;
    } elsif ($what =~ /^resume (\S+) (\d+)/) {
        $t_resume{$1}{$2} = $t;
    } elsif ($what =~ /^affected (\S+) ?(\S*)/) {
        $affected{$1} = { map { $_ => 1 } split /,/, $2 };
    } elsif ($what =~ /^retries (\S+) (\d+)/) {
        $retries{$1} = $2;
    } elsif ($what =~ /^settled (\S+)/) {
        $t_settled{$1} = $t;
    } elsif ($what =~ /^ping (\S+)/) {
        $t_ping{$1} = $t;
    } elsif ($what =~ /^reload/) {
        push @reloads, $t;
    } elsif ($what eq 'start') {
        $t_start = $t;
    } elsif ($what eq 'stop') {
        $t_stop = $t;
    }
}
close $ev;
die "analyze.pl: incomplete timeline\n" unless @phases && $t_stop;
for my $i (0 .. $#phases) {
    $phases[$i]{end} = $i < $#phases ? $phases[$i + 1]{start} : $t_stop;
}
my @fault_phases = grep { exists $t_fault{$_->{name}} } @phases;

sub phase_of {
    my ($t) = @_;
    for my $p (@phases) {
        return $p->{name} if $t >= $p->{start} && $t < $p->{end};
    }
    return $t < $phases[0]{start} ? 'pre' : 'post';
}

# the fault phase t falls in, from the fault to the end of the phase
sub in_fault {
    my ($t) = @_;
    for my $p (@fault_phases) {
        return $p->{name} if $t >= $t_fault{$p->{name}} && $t < $p->{end};
    }
    return undef;
}

# the faults in which Redis dies (SIGKILL, SHUTDOWN): a request whose
# script ran just before may never get its reply, whatever the module does
sub is_death { $_[0] =~ /^(kill|refuse)/ }
sub is_failover { $_[0] =~ /^(failover|clkill)/ }
sub is_move { $_[0] =~ /^reshard/ }

print "run $NAME ($MODE): tenant_redis_failure $POLICY, tenant_redis timeout=${TIMEOUT}ms, redis "
    . ($ENV{REDIS_VERSION} // '?') . "\n";
print "timeline (s from the start of the load):\n";
for my $p (@phases) {
    my $n = $p->{name};
    my $line = sprintf "  %-12s %6.2f .. %6.2f", $n, $p->{start} - $t_start,
                       $p->{end} - $t_start;
    if (exists $t_fault{$n} && is_failover($n)) {
        $line .= sprintf "  %s at %6.2f (%d refused first), promoted"
                         . " at %6.2f (+%d ms), settled at %6.2f",
                         $CLUSTER ? 'SIGKILL' : 'SENTINEL FAILOVER',
                         $t_fault{$n} - $t_start, $retries{$n} // 0,
                         $t_back{$n} - $t_start, ms($t_back{$n} - $t_fault{$n}),
                         ($t_settled{$n} // $p->{end}) - $t_start;
    } elsif (exists $t_fault{$n} && is_move($n)) {
        $line .= sprintf "  move began at %6.2f, done at %6.2f (%d ms)",
                         $t_fault{$n} - $t_start, $t_back{$n} - $t_start,
                         ms($t_back{$n} - $t_fault{$n});
    } elsif (exists $t_fault{$n}) {
        $line .= sprintf "  fault at %6.2f, Redis back at %6.2f (out %d ms)",
                         $t_fault{$n} - $t_start, $t_back{$n} - $t_start,
                         ms($t_back{$n} - $t_fault{$n});
    }
    $line .= sprintf ", a PING queued meanwhile answered at %+d ms", ms($t_ping{$n} - $t_back{$n})
        if exists $t_ping{$n};
    $line .= '  reloads at ' . join(', ', map { sprintf '%.2f', $_ - $t_start } @reloads)
        if $n eq 'reload';
    print "$line\n";
}

# ----------------------------------------------------------- access log

my @log;
open my $al, '<', "$dir/gateway/logs/access.log"
    or die "analyze.pl: access.log: $!\n";
while (<$al>) {
    chomp;
    my @f = split / /, $_, -1;
    if (@f != 10) {
        print "      unparsed access log line: $_\n";
        next;
    }
    my ($msec, $pid, $conn, $status, $rt, $lim, $org, $why, $used, $uri) = @f;
    push @log, { end => $msec, start => $msec - $rt, pid => $pid,
                 status => $status, lim => $lim || '-', org => $org,
                 why => $why || '-', used => $used, uri => $uri };
}
close $al;

# ---------------------------------------------------------------- probe

my %lanes;
for my $f (glob "$dir/probe/*.tsv") {
    my ($name) = $f =~ m{/([^/]+)\.tsv$};
    open my $fh, '<', $f or die "analyze.pl: $f: $!\n";
    while (<$fh>) {
        chomp;
        my @c = split /\t/;
        next unless @c == 11;
        push @{ $lanes{$name} }, {
            seq => $c[0], send => $c[1], recv => $c[2], ms => $c[3],
            status => $c[4], lim => $c[5], why => $c[6], worker => $c[7],
            used => $c[8], attempts => $c[9], err => $c[10] };
    }
    close $fh;
}
my %lane_tenant = (exact => 'exact', lat1 => 'lat', lat2 => 'lat', lat3 => 'lat');

# ------------------------------------------------------------------ wrk

my (%wrk, @wrk_err, @wrk_lat);
if (open my $wf, '<', "$dir/wrk.out") {
    while (<$wf>) {
        chomp;
        if (/^WRK\t(\S+)\t(\d+)\t(\S+)\t(\S+)\t(\d+)$/) {
            $wrk{$1}{"$2 $3 $4"} += $5;
        } elsif (/^WRKERR\t(\d+) (\d+) (\d+) (\d+)$/) {
            @wrk_err = ($1, $2, $3, $4);
        } elsif (/^WRKLAT\t(\S+) (\S+) (\d+)$/) {
            @wrk_lat = ($1, $2, $3);
        }
    }
    close $wf;
}

# --------------------------------------------------- CPU waits (sched.pl)

# pid -> [[time, wait_s], ...] in time order; the upstream's workers
my (%sched, %up_pid);
if (open my $sf, '<', "$dir/sched.tsv") {
    while (<$sf>) {
        chomp;
        my ($t, $tag, $pid, $run, $wait) = split /\t/;
        next unless defined $wait;
        push @{ $sched{$pid} }, [$t, $wait / 1e9];
        $up_pid{$pid} = 1 if $tag eq 'up';
    }
    close $sf;
}
my %lane_pid;
for my $lane (keys %lanes) {
    if (open my $pf, '<', "$dir/probe/$lane.pid") {
        chomp($lane_pid{$lane} = <$pf> // '');
        close $pf;
    }
}

# how long pid waited for a CPU over [t0, t1], from the last sample at or
# before t0 to the first at or after t1 (so rather more than less)
sub waited {
    my ($pid, $t0, $t1) = @_;
    my $s = $sched{$pid} or return 0;
    my ($a, $b);
    for my $x (@$s) {
        $a = $x if $x->[0] <= $t0;
        if ($x->[0] >= $t1) { $b = $x; last }
    }
    return 0 unless $a && $b;
    return $b->[1] - $a->[1];
}

# ================================================================ checks

print "\n";

# --- crash

{
    my ($signal, $alert, $redis_err, $restored) = (0, 0, 0, 0);
    my @bad;
    open my $el, '<', "$dir/gateway/logs/error.log"
        or die "analyze.pl: error.log: $!\n";
    while (<$el>) {
        if (/exited on signal/) { $signal++; push @bad, $_ }
        elsif (/\[(alert|emerg)\]/) { $alert++; push @bad, $_ }
        $redis_err++ if /\[error\].*tenant: redis/;
        $restored++ if /redis connection restored/;
    }
    close $el;
    verdict($signal == 0 && $alert == 0, 'crash',
            "$signal 'exited on signal', $alert alert/emerg lines in the error log"
            . " ($redis_err 'tenant: redis' errors, $restored 'connection restored')");
    info("  $_") for map { chomp; $_ } @bad[0 .. min(4, $#bad)];
}

# --- statuses

my %ok_lim = (
    200 => $POLICY eq 'allow' ? { PASSED => 1, UNAVAILABLE => 1 } : { PASSED => 1 },
    429 => { REJECTED => 1 },
    503 => { UNAVAILABLE => 1 },
);
my %ok_why = (200 => { '-' => 1 }, 429 => { rate_limited => 1, quota_exceeded => 1 },
              503 => { limiter_unavailable => 1 });

sub consistent {
    my ($status, $lim, $why) = @_;
    return 0 unless $EXPECTED{$POLICY}{$status};
    return 0 unless $ok_lim{$status}{$lim};
    return 0 unless $ok_why{$status}{$why};
    return 1;
}

{
    my (%by, %bad, $n, $late499);
    $late499 = 0;
    for my $r (@log) {
        $n++;
        $by{"$r->{status} $r->{lim} $r->{why}"}++;
        next if consistent($r->{status}, $r->{lim}, $r->{why});
        # wrk's own requests still in flight when it was stopped
        if ($r->{status} == 499 && $r->{end} >= $t_stop) { $late499++; next }
        $bad{"log: $r->{status} $r->{lim} $r->{why} at " . phase_of($r->{end})}++;
    }
    my %client;
    for my $t (keys %wrk) {
        for my $k (keys %{ $wrk{$t} }) {
            my ($s, $l, $w) = split / /, $k;
            $client{$k} += $wrk{$t}{$k};
            $bad{"wrk ($t): $k"} += $wrk{$t}{$k} unless consistent($s, $l, $w);
        }
    }
    my $unanswered = 0;
    for my $lane (sort keys %lanes) {
        for my $r (@{ $lanes{$lane} }) {
            if ($r->{status} == 0) { $unanswered++; next }
            my $k = "$r->{status} $r->{lim} $r->{why}";
            $client{$k}++;
            $bad{"probe ($lane): $k at " . phase_of($r->{send})}++
                unless consistent($r->{status}, $r->{lim}, $r->{why});
        }
    }
    my $nbad = sum0(values %bad);
    my $allowed = join ' ', sort keys %{ $EXPECTED{$POLICY} };
    verdict(!$nbad && scalar(%client), 'statuses',
            "$nbad responses outside {$allowed} or with the wrong limit status/reason"
            . " (access log: $n requests; $late499 499s after the load stopped)");
    info("access log:  ", join(', ', map { "$_: $by{$_}" } sort keys %by));
    info("client side: ", join(', ', map { "$_: $client{$_}" } sort keys %client));
    info("  unexpected: $_ x $bad{$_}") for (sort keys %bad)[0 .. min(9, scalar(keys %bad) - 1)];
    if (@wrk_err) {
        info(sprintf "wrk: %d requests, socket errors connect %d read %d write %d timeout %d;"
             . " latency max %.1f ms, p99 %.1f ms",
             $wrk_lat[2] // 0, @wrk_err, $wrk_lat[0] // 0, $wrk_lat[1] // 0);
    } else {
        verdict(0, 'wrk', "no summary from wrk (see $dir/wrk.out)");
    }
    verdict(!$wrk_err[3], 'wrk-timeo', ($wrk_err[3] // '?')
            . " wrk requests unanswered within 2 s") if @wrk_err;
}

# --- faults took effect

{
    my (@none, @seen);
    for my $p (@fault_phases) {
        my $n = $p->{name};
        my $c = grep { $_->{lim} eq 'UNAVAILABLE' && $_->{end} >= $t_fault{$n}
                       && $_->{end} < $p->{end} } @log;
        push @seen, "$n $c";
        # a failover need not leave the gateway without Redis
        # nor a slot moved fast enough
        push @none, $n unless $c || is_failover($n) || is_move($n);
    }
    my $rate  = grep { $_->{org} eq 'rated' && $_->{why} eq 'rate_limited' } @log;
    my $quota = grep { $_->{org} eq 'small' && $_->{why} eq 'quota_exceeded' } @log;
    verdict(!@none && $rate && $quota, 'faults',
            'answers without Redis per fault: ' . join(', ', @seen)
            . "; 429 rate_limited (rated): $rate, 429 quota_exceeded (small): $quota"
            . (@none ? "; NO EFFECT: @none" : ''));
}

# --- latency (probe)

{
    my $bound = $TIMEOUT + $SLACK;
    my (@all, %phase_max, $n, $retried, @unanswered, @noise, @slow);
    for my $lane (sort keys %lanes) {
        for my $r (@{ $lanes{$lane} }) {
            $n++;
            if ($r->{status} == 0) {
                push @unanswered, "$lane #$r->{seq} at " . phase_of($r->{send})
                                  . ": $r->{err}";
                next;
            }
            $retried++ if $r->{attempts} > 1;
            push @all, [$r->{ms}, $lane, $r];
            my $ph = phase_of($r->{send});
            $phase_max{$ph} = $r->{ms} if !defined $phase_max{$ph} || $r->{ms} > $phase_max{$ph};
        }
    }
    @all = sort { $b->[0] <=> $a->[0] } @all;
    # Over the bound: unless the gateway's worker, the upstream's or the
    # probe's lane spent the excess waiting for a CPU (another process had
    # it: this machine is shared), the gateway made the request wait.
    for my $w (grep { $_->[0] > $bound } @all) {
        my ($ms, $lane, $r) = @$w;
        my $cpu = waited($r->{worker}, $r->{send}, $r->{recv})
                + waited($lane_pid{$lane} // 0, $r->{send}, $r->{recv})
                + sum0(map { waited($_, $r->{send}, $r->{recv}) } keys %up_pid);
        my $line = sprintf "%.1f ms: %s #%d at %.3f s (%s), %s %s, worker %s, attempts %d;"
                   . " waiting for a CPU meanwhile: %.0f ms", $ms, $lane, $r->{seq},
                   $r->{send} - $t_start, phase_of($r->{send}), $r->{status}, $r->{lim},
                   $r->{worker}, $r->{attempts}, $cpu * 1000;
        if ($cpu * 1000 >= $ms - $bound) {
            push @noise, $line;
        } else {
            push @slow, $line;
        }
    }
    my $p99 = @all ? $all[int(@all * 0.01)][0] : 0;
    verdict($n && !@slow && !@unanswered, 'latency',
            sprintf "probe: %d requests, max %.1f ms, p99 %.1f ms; over %d ms: %d, of"
                    . " which %d not explained by waiting for a CPU; %d unanswered,"
                    . " %d sent again after a closed keep-alive", $n // 0,
                    @all ? $all[0][0] : 0, $p99, $bound, @noise + @slow, scalar @slow,
                    scalar @unanswered, $retried // 0);
    info('max per phase (ms): ', join(', ', map { sprintf '%s %.1f', $_->{name},
         $phase_max{$_->{name}} // 0 } @phases));
    info("  ! $_") for @slow[0 .. min(9, $#slow)];
    info("  ~ $_") for @noise[0 .. min(9, $#noise)];
    info("  ! unanswered: $_") for @unanswered[0 .. min(4, $#unanswered)];
}

# --- recovery

{
    my (@bad, @lines);
    for my $p (@fault_phases) {
        my $n = $p->{name};
        my $ms = $CLUSTER && is_failover($n) ? $FAILOVER_RESUME : $RECOVERY;
        my $lim_s = $ms / 1000;
        my ($tb, $tf) = ($t_back{$n}, $t_fault{$n});
        my (%first, %seen);
        for my $r (@log) {
            next if $r->{end} < $tf || $r->{end} >= $p->{end};
            $seen{$r->{pid}} = 1;
            next if $r->{end} < $tb;
            next unless $r->{lim} eq 'PASSED' || $r->{lim} eq 'REJECTED';
            $first{$r->{pid}} //= $r->{end};
        }
        # after a failover, a decision counts once it is the new master's:
        # the old one may still answer for a while after the promotion
        %first = %{ $t_resume{$n} // {} } if is_failover($n);
        my @w;
        my $worst = 0;
        for my $pid (sort keys %seen) {
            if (!defined $first{$pid}) {
                push @w, "$pid never";
                push @bad, "$n: worker $pid gave no Redis decision after Redis's return";
                next;
            }
            my $d = $first{$pid} - $tb;
            $worst = $d if $d > $worst;
            push @w, sprintf "%s %d ms", $pid, ms($d);
            push @bad, sprintf "%s: worker %s took %d ms", $n, $pid, ms($d) if $d > $lim_s;
        }
        # nothing answered without Redis that started after the limit
        my @late = grep { $_->{lim} eq 'UNAVAILABLE' && $_->{start} >= $tb + $lim_s
                          && $_->{end} < $p->{end} } @log;
        push @bad, sprintf "%s: %d requests started over %d ms after Redis's return"
                   . " were answered without it (last at +%d ms, worker %s)",
                   $n, scalar @late, $ms, ms($late[-1]{start} - $tb), $late[-1]{pid}
            if @late;
        # the probe's view: its first Redis decision after the return
        my @pl;
        for my $lane (sort keys %lanes) {
            my ($r) = grep { $_->{recv} >= $tb && $_->{recv} < $p->{end}
                             && ($_->{lim} eq 'PASSED' || $_->{lim} eq 'REJECTED') }
                      @{ $lanes{$lane} };
            push @pl, $r ? sprintf("%s %d", $lane, ms($r->{recv} - $tb)) : "$lane never";
        }
        push @lines, sprintf "%-12s workers: %s; probe: %s", $n, join(', ', @w),
                             join(', ', @pl);
        printf "RESUME: %s promoted %d ms after %s; decisions on the new"
               . " master %s ms after the promotion (worker by worker: %s)\n", $n,
               ms($tb - $tf), $CLUSTER ? 'the SIGKILL' : 'SENTINEL FAILOVER',
               %first ? ms(max(map { $first{$_} } keys %first) - $tb) : 'never',
               join(', ', @w)
            if is_failover($n);
    }
    # and none outside the faults
    # (the pre-flight's tries while a worker's first link comes up aside)
    my @outside = grep { $_->{lim} eq 'UNAVAILABLE' && !in_fault($_->{start})
                         && !in_fault($_->{end}) && $_->{uri} !~ m{^/preflight/} } @log;
    push @bad, sprintf "%d requests answered without Redis outside the faults"
               . " (first at %.3f s, %s, worker %s)", scalar @outside,
               $outside[0]{end} - $t_start, phase_of($outside[0]{end}), $outside[0]{pid}
        if @outside;
    verdict(!@bad, 'recovery', "first Redis decision per worker within "
            . ($SENTINEL ? "$RECOVERY ms of the promotion, on the new master"
               : $CLUSTER ? "$FAILOVER_RESUME ms of a promotion, on the new master,"
                            . " and $RECOVERY ms of the end of a move"
               : "$RECOVERY ms of Redis's return")
            . ", none without Redis after that or outside the faults");
    info($REPLICATED ? "resume (ms after the promotion; workers: the first EVALSHA on the new"
                     . " master, from its CLIENT LIST; probe: its first decision, either master):"
                   : "recovery (ms after Redis's return):");
    info("  $_") for @lines;
    info("  ! $_") for @bad;
}

# --- quota

{
    my %c;
    open my $cf, '<', "$dir/counters.tsv" or die "analyze.pl: counters.tsv: $!\n";
    while (<$cf>) {
        chomp;
        my ($t, $v) = split /\t/;
        $c{$t} = $v;
    }
    close $cf;

    my (%P, %U, %Pc);
    for my $r (@log) {
        $P{$r->{org}}++ if $r->{status} == 200 && $r->{lim} eq 'PASSED';
        $U{$r->{org}}++ if $r->{lim} eq 'UNAVAILABLE';
    }
    for my $t (keys %wrk) {
        for my $k (keys %{ $wrk{$t} }) {
            $Pc{$t} += $wrk{$t}{$k} if $k =~ /^200 PASSED /;
        }
    }
    for my $lane (keys %lanes) {
        $Pc{ $lane_tenant{$lane} } += grep { $_->{status} == 200 && $_->{lim} eq 'PASSED' }
                                      @{ $lanes{$lane} };
    }
    # the pre-flight request of each tenant (curl) is in the log, not here
    $Pc{$_}++ for @TENANTS;

    # at most one request a connection can be in flight when Redis dies
    my $deaths = grep { is_death($_->{name}) } @fault_phases;
    my $per_thread = int($WRK_CONN / $WRK_THREADS);
    my %conns = (big1 => $per_thread, big2 => $per_thread, rated => $per_thread,
                 small => $per_thread, exact => 1, lat => 3);

    my (@hard, @strict, @lines);
    my ($lost, $admitted) = (0, 0);
    for my $t (@TENANTS) {
        my ($p, $u, $cnt, $pc) = ($P{$t} // 0, $U{$t} // 0, $c{$t} // 0, $Pc{$t} // 0);
        $admitted += $p;
        if ($REPLICATED) {
            # the counters are the new master's: what the old one counted
            # and had not yet sent to the replica when it was promoted (or
            # counted after that, before the worker left it) is gone
            my $l = $p - $cnt > 0 ? $p - $cnt : 0;
            $lost += $l;
            push @lines, sprintf "%-6s counter (master at the end) %7d  admitted (log) %7d"
                         . "  client %7d  without Redis %6d  lost to the failovers %5d",
                         $t, $cnt, $p, $pc, $u, $l;
            push @hard, "$t: counter $cnt > admitted $p + answered without Redis $u: doubled"
                if $cnt > $p + $u;
            push @hard, "$t: client saw $pc admitted, the log $p" if $pc > $p;
            push @hard, "$t: log has $p admitted, clients saw $pc (+ in flight)"
                if $p > $pc + $WRK_CONN + 4;
            next;
        }
        push @lines, sprintf "%-6s counter %7d  admitted (log) %7d  client %7d"
                     . "  without Redis %6d  counter-admitted %+4d  (in flight at"
                     . " Redis's deaths: <= %d)", $t, $cnt, $p, $pc, $u, $cnt - $p,
                     $deaths * $conns{$t};
        push @hard, "$t: counter $cnt < admitted $p: increments lost" if $cnt < $p;
        push @hard, "$t: counter $cnt > admitted $p + answered without Redis $u: doubled"
            if $cnt > $p + $u;
        push @hard, "$t: client saw $pc admitted, the log $p" if $pc > $p;
        push @hard, "$t: log has $p admitted, clients saw $pc (+ in flight)"
            if $p > $pc + $WRK_CONN + 4;
        push @strict, sprintf "%s: counter - admitted = %d, more than the %d requests"
                      . " that can have been in flight when Redis died", $t, $cnt - $p,
                      $deaths * $conns{$t}
            if $cnt - $p > $deaths * $conns{$t};
    }
    my $sc = $c{small} // 0;
    my $exhausted = grep { $_->{org} eq 'small' && $_->{why} eq 'quota_exceeded' } @log;
    push @hard, "small: counter $sc over its quota $QUOTA" if $sc > $QUOTA;
    push @hard, "small: quota_exceeded seen but counter $sc != $QUOTA"
        if $exhausted && $sc != $QUOTA;

    # The probe's own tenant, request by request (one serial connection):
    # X-Quota-Remaining of each admitted response tells how many increments
    # came before it, so each run of requests answered without Redis
    # between two admitted ones shows how many of them Redis counted.  One
    # may be the request in flight when Redis died (the first of the run);
    # the others are late replies: the script ran after nginx had given up
    # on it, counted, and nginx had answered by tenant_redis_failure.  They
    # can only be the last ones sent before Redis returned.
    my $prev = 1;    # the pre-flight request was counted first
    my (@block, @exact_bad, %late, %dead);
    my $nfail = 0;
    my $close_block = sub {
        my ($gap, $where) = @_;
        if ($gap < 0) {
            push @exact_bad, "$where: quota used went down by " . (-$gap);
            return;
        }
        if ($gap > @block) {
            push @exact_bad, sprintf "%s: %d increments for the %d requests answered"
                             . " without Redis before it: doubled", $where, $gap,
                             scalar @block;
            return;
        }
        return unless $gap;
        # the request in flight when Redis died: the first one answered
        # after the kill or SHUTDOWN, sent before Redis was gone (which a
        # SHUTDOWN makes take a little while)
        my @rest = @block;
        for my $n (grep { is_death($_) } keys %t_fault) {
            my ($i) = grep { $block[$_]{recv} >= $t_fault{$n}
                             && $block[$_]{send} <= $t_fault{$n} + 1 } 0 .. $#block;
            next unless defined $i;
            push @{ $dead{$n} }, $block[$i];
            @rest = @block[grep { $_ != $i } 0 .. $#block];
            $gap--;
            last;
        }
        return unless $gap;
        for my $r (@rest[$#rest - $gap + 1 .. $#rest]) {
            my $ph = in_fault($r->{send}) // phase_of($r->{send});
            push @{ $late{$ph} }, $r;
        }
    };
    for my $r ($REPLICATED ? () : @{ $lanes{exact} // [] }) {
        if ($r->{status} == 200 && $r->{lim} eq 'PASSED') {
            my $u = $r->{used};
            if ($u !~ /^\d+$/) {
                push @exact_bad, "#$r->{seq}: admitted without X-Quota-Remaining";
                next;
            }
            $close_block->($u - $prev - 1, "#$r->{seq}");
            $prev = $u;
            @block = ();
        } elsif ($r->{status} == 429) {
            push @exact_bad, "#$r->{seq}: 429 for the exact tenant";
        } else {
            push @block, $r;
            $nfail++;
        }
    }
    $close_block->(($c{exact} // 0) - $prev, 'the end') unless $REPLICATED;

    # late replies may count only within the deadline the module gives the
    # script: the timeout plus its slack, from when the request was sent
    my ($nlate, $ndead) = (0, 0);
    my @late_lines;
    for my $ph (map { $_->{name} } @phases) {
        my $d = $dead{$ph} ? @{ $dead{$ph} } : 0;
        $ndead += $d;
        next unless $late{$ph} || $d;
        my @rs = @{ $late{$ph} // [] };
        $nlate += @rs;
        # sent during the fault: how long before Redis's return
        my $tb = (grep { $_->{name} eq $ph } @fault_phases) ? $t_back{$ph} : undef;
        my @before = defined $tb ? map { $tb - $_->{send} } @rs : ();
        my @took = map { ($_->{recv} - $_->{send}) } @rs;
        my $answered = grep { (in_fault($_->{send}) // '') eq $ph
                              && !($_->{status} == 200 && $_->{lim} eq 'PASSED') }
                       @{ $lanes{exact} };
        push @late_lines, sprintf "%-12s %3d answered without Redis: %d in flight when"
                          . " Redis died, %d late replies counted%s", $ph, $answered,
                          $d, scalar @rs, @before ? sprintf(" (sent from %d to %+d ms"
                          . " of Redis's return)", -ms(max(@before)), -ms(min(@before)))
                          : @rs ? sprintf(" (outside the fault, answered in %d..%d ms)",
                                          ms(min(@took)), ms(max(@took))) : '';
        for my $i (0 .. $#rs) {
            next unless defined $tb;
            push @exact_bad, sprintf "%s: #%d counted, sent %d ms before Redis's return,"
                             . " past the deadline of %d ms", $ph, $rs[$i]{seq},
                             ms($before[$i]), $TIMEOUT + $LATE_SLACK
                if $before[$i] * 1000 > $TIMEOUT + $LATE_SLACK + 20;
        }
    }
    push @hard, "exact: $_" for @exact_bad;
    push @strict, "exact: $nlate late replies counted for requests answered without Redis"
        if $nlate;

    if ($REPLICATED) {
        verdict(!@hard, 'quota', 'no increment doubled (counter <= admitted + answered'
                . ' without Redis, every tenant), the small quota never exceeded');
        printf "LOST: %d admitted requests of %d (%.4f %%) have no increment on the master"
               . " at the end (asynchronous replication: the failovers lost them)\n",
               $lost, $admitted, $admitted ? 100 * $lost / $admitted : 0;
    } else {
        verdict(!@hard, 'quota', 'no increment lost or doubled (admitted <= counter'
                . ' <= admitted + answered without Redis, every tenant; the probe\'s tenant'
                . ' request by request), late replies only within the deadline');
        verdict(!@strict, 'quota=', 'counter == admitted, but for requests in flight when'
                . ' Redis died: no late reply counted');
    }
    info($_) for @lines;
    info("small: quota $QUOTA, counter $sc, " . ($exhausted ? "exhausted ($exhausted x 429 quota_exceeded)"
                                                       : 'not exhausted'));
    info(sprintf "exact (probe lane): %d requests answered without Redis, of which"
         . " Redis counted %d in flight when it died and %d late replies", $nfail,
         $ndead, $nlate);
    info("  $_") for @late_lines;
    info("  ! $_") for @hard[0 .. min(9, $#hard)];
    info("  = $_") for @strict;
}

# --- cluster: the tenants of the other masters and slots never notice

if ($CLUSTER) {
    my (@bad, @seen);
    for my $p (@fault_phases) {
        my $n = $p->{name};
        my %hit = %{ $affected{$n} // {} };
        my %by;
        for my $r (@log) {
            next unless $r->{lim} eq 'UNAVAILABLE';
            next unless ($r->{end} >= $t_fault{$n} && $r->{end} < $p->{end});
            $by{$r->{org}}++;
        }
        push @seen, "$n (" . (join(',', sort keys %hit) || 'none') . '): '
                    . (join(', ', map { "$_ $by{$_}" } sort keys %by) || 'none');
        push @bad, map { "$n: $_ ($by{$_} answers without Redis) is not on the"
                         . " master or slot of the fault" } grep { !$hit{$_} } sort keys %by;
    }
    verdict(!@bad, 'others', 'answers without Redis during each fault, only for its'
            . ' tenants (in brackets): ' . join('; ', @seen));
    info("  ! $_") for @bad;
}

# --- file descriptors and memory

{
    my (%s, @order);
    open my $sf, '<', "$dir/samples.tsv" or die "analyze.pl: samples.tsv: $!\n";
    while (<$sf>) {
        chomp;
        my ($label, $t, $pid, $state, $fds, $redis, $up, $cl, $li, $gone, $other,
            $rss) = split /\t/;
        push @order, $label unless $s{$label};
        $s{$label}{$pid} = { state => $state, fds => $fds, redis => $redis,
                             up => $up, client => $cl, listen => $li, gone => $gone,
                             other => $other, rss => $rss };
    }
    close $sf;

    info('');
    info('samples, per worker: fds = Redis + upstream + client + listening + closed'
         . ' meanwhile + other; RSS kB');
    for my $l (@order) {
        info(sprintf "  %-12s %s", $l, join('   ', map {
            my $w = $s{$l}{$_};
            sprintf "%s%s %d=%d+%d+%d+%d+%d+%d %dkB", $_,
                    $w->{state} eq 'shutting' ? '(old)' : '', $w->{fds},
                    @$w{qw(redis up client listen gone other)}, $w->{rss}
        } sort keys %{ $s{$l} }));
    }

    my (@fd_bad, @rss_bad, @fd_lines, @rss_lines);
    my $base = $s{baseline} // {};
    my @rounds = grep { /^round\d+$/ } @order;
    my $nworkers = keys %$base;

    # the same workers through every round of faults (no reload in between)
    for my $pid (sort keys %$base) {
        my @seq = (['baseline', $base->{$pid}]);
        for my $l (@rounds) {
            if (!$s{$l}{$pid}) {
                push @fd_bad, "worker $pid of the baseline is gone at $l";
                last;
            }
            push @seq, [$l, $s{$l}{$pid}];
        }
        push @fd_lines, "worker $pid: other fds " . join(' -> ', map { $_->[1]{other} } @seq)
                        . ", Redis sockets " . join(' -> ', map { $_->[1]{redis} } @seq);
        for my $x (@seq[1 .. $#seq]) {
            push @fd_bad, "worker $pid: other fds $base->{$pid}{other} at the baseline,"
                          . " $x->[1]{other} at $x->[0]"
                if $x->[1]{other} - $base->{$pid}{other} > $FD_TOL;
        }
        push @rss_lines, "worker $pid: " . join(' -> ', map { "$_->[1]{rss}" } @seq)
                         . ' kB (' . join(', ', map { sprintf '%+d', $seq[$_][1]{rss}
                                                      - $seq[$_ - 1][1]{rss} } 1 .. $#seq)
                         . ')';
        if (@seq > 1) {
            my $d = $seq[-1][1]{rss} - $seq[-2][1]{rss};
            push @rss_bad, "worker $pid: RSS $d kB more after $seq[-1][0] than after $seq[-2][0]"
                if $d > $RSS_TOL;
        }
    }
    for my $l (@order) {
        my $clients = 0;
        for my $pid (keys %{ $s{$l} }) {
            my $w = $s{$l}{$pid};
            $clients += $w->{client};
            next if $w->{state} ne 'worker';
            # in a cluster, one a master the worker has needed and the one
            # that reads the slot map (CLUSTER SLOTS)
            push @fd_bad, "$l: worker $pid has $w->{redis} Redis sockets"
                if $CLUSTER ? $w->{redis} < 1 || $w->{redis} > 4 : $w->{redis} != 1;
        }
        push @fd_bad, "$l: $clients client connections, more than wrk's and the probe's"
            if $clients > $WRK_CONN + 4;
    }
    # across the reloads: the new workers, all of them, against the first
    my $fin = $s{final} // {};
    my @old = grep { $fin->{$_}{state} ne 'worker' } keys %$fin;
    my @new = grep { $fin->{$_}{state} eq 'worker' } keys %$fin;
    push @fd_bad, scalar(@old) . " old workers still running 5 s after the last reload"
        if @old;
    push @fd_bad, "final: " . scalar(@new) . " workers, not $nworkers" if @new != $nworkers;
    my ($bo, $fo) = (sum0(map { $_->{other} } values %$base),
                     sum0(map { $fin->{$_}{other} } @new));
    my ($br, $fr) = (sum0(map { $_->{rss} } values %$base),
                     sum0(map { $fin->{$_}{rss} } @new));
    push @fd_lines, "all workers, baseline -> after the reloads: other fds $bo -> $fo";
    push @rss_lines, sprintf "all workers, baseline -> after the reloads: %d -> %d kB (%+d)",
                     $br, $fr, $fr - $br;
    push @fd_bad, "after the reloads: other fds $bo -> $fo"
        if $fo - $bo > $FD_TOL * $nworkers;
    push @rss_bad, "after the reloads: RSS +" . ($fr - $br) . " kB"
        if $fr - $br > $RSS_TOL * $nworkers;

    verdict(!@fd_bad, 'fds', "non-connection fds at most +$FD_TOL a worker through the"
            . " faults and after the reloads, "
            . ($CLUSTER ? 'one to four Redis sockets a worker (a master each, the slot map\'s)'
                      : 'one Redis socket a worker')
            . ', old workers gone');
    info("  $_") for @fd_lines;
    info("  ! $_") for @fd_bad;
    verdict(!@rss_bad, 'rss', "per worker, no more than +$RSS_TOL kB over the last round"
            . " of faults; all workers after the reloads within +$RSS_TOL kB each of the"
            . " baseline");
    info("  $_") for @rss_lines;
    info("  ! $_") for @rss_bad;
}

print "\n";
if (@fails) {
    print "FAIL: policy $POLICY (" . join(', ', @fails) . ")\n";
    exit 1;
}
print "PASS: policy $POLICY\n";
exit 0;
