#!/usr/bin/perl
# Turns bench/run's raw.tsv into results.md (and prints the summary).
#
#   report.pl RAW_TSV RESULTS_MD
#   report.pl --chart-data RAW_TSV     the medians' ratios to plain proxy,
#                                      for lib/chart.gp, on stdout
#
# The rest comes from REPORT_* environment variables set by bench/run.
# Per configuration the median over the rounds is taken of each figure
# separately (req/s, p50, p99, CPU us/req); ratios are of those medians
# to plain proxy's medians.  For the configurations with Redis (g, h),
# redis-server's CPU per request and Redis's command counts as well.

use strict;
use warnings;

my $chart = @ARGV && $ARGV[0] eq '--chart-data' ? shift @ARGV : undef;
my ($raw, $outfile) = @ARGV;
die "usage: report.pl RAW_TSV RESULTS_MD | --chart-data RAW_TSV\n"
    unless defined $raw && (defined $outfile || $chart);

# the issue's targets, as ratios to plain proxy (a) in the same run
my %T = (
    jwt_cpu => 1.05, jwt_rps => 0.95,       # (4): b c d
    gw_cpu  => 1.15, gw_rps  => 0.85,       # (6): g
    gw_p99_ms => 1.0,                       # (6): p99 at most plain's + 1 ms
    spread  => 0.10,                        # (7) h within 10 % of (6) g
    verify  => 0.20,                        # (5) e within 20 % of openssl's verify/s
    vs_lua  => 3.0,                         # ours (g) >= 3x the Lua gateway with JWT (k)
    # issue 17, leased allowances (LEASE=1): (l) and (p) against plain proxy
    lease_cpu => 1.10, lease_rps => 0.85,
    lease_redis_us => 5.0,                  # redis-server CPU µs per request
    lease_evalsha  => 1 / 16,               # EVALSHA per request
);
my @JWT_CONFIGS = qw(b c d);
my @RT_CONFIGS = qw(g h o t x);   # exactly one Redis round trip per request
# LEASE: the lease configurations that have targets; the others ((q), (r):
# a tenant too slow to reuse a lease) are reported only
my %LEASE_TARGETED = (l => 1, p => 1);

# the commands the module's Lua script runs inside Redis (redis.call in
# ngx_http_tenant_script.c); Redis 7 counts them in commandstats too, but
# they are not round trips
my %IN_SCRIPT = map { $_ => 1 } qw(hmget exists time get mget set incr incrby decrby hincrby
                                   expireat pttl hget pexpire del hgetall scan);
# the bench's own command in the window (its INFO is not counted)
my %BENCH_OWN = ('config|resetstat' => 1);

sub env { my $v = $ENV{"REPORT_$_[0]"}; defined $v && $v ne '' ? $v : $_[1] }

my @configs = split ' ', env('CONFIGS', 'a b c d e f');
my %label = map { $_ => env("LABEL_$_", $_) } @configs;
my %issue = map { $_ => env("ISSUE_$_", '') } @configs;
# the Lua gateways: their INCR and EXPIRE are top-level, round trips
my %lua = map { $_ => 1 } split ' ', env('LUA_CONFIGS', '');

open my $fh, '<', $raw or die "$raw: $!\n";
my $head = <$fh>;
chomp $head;
my @cols = split /\t/, $head;
my (@rows, %by);
while (my $l = <$fh>) {
    chomp $l;
    next unless length $l;
    my %r;
    @r{@cols} = split /\t/, $l;
    push @rows, \%r;
    push @{ $by{ $r{config} } }, \%r;
}
close $fh;

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    my $m = int(@v / 2);
    return @v % 2 ? $v[$m] : ($v[$m - 1] + $v[$m]) / 2;
}

# one measurement's Redis commands: evalsha, eval, other top-level calls
# (name => calls), the bench's own, and inside-the-script calls
sub classify {
    my ($r) = @_;
    my %k = (evalsha => 0, eval => 0, other => {}, own => {}, inside => {});
    for my $kv (split /,/, $r->{redis_cmds} // '') {
        my ($cmd, $n) = split /=/, $kv;
        next unless defined $n;
        if ($lua{ $r->{config} }) {
            if ($BENCH_OWN{$cmd}) { $k{own}{$cmd} = $n } else { $k{other}{$cmd} = $n }
            next;
        }
        if    ($cmd eq 'evalsha')    { $k{evalsha} = $n }
        elsif ($cmd eq 'eval')       { $k{eval} = $n }
        elsif ($IN_SCRIPT{$cmd})     { $k{inside}{$cmd} = $n }
        elsif ($BENCH_OWN{$cmd})     { $k{own}{$cmd} = $n }
        else                         { $k{other}{$cmd} = $n }
    }
    return \%k;
}

my %med;
for my $c (@configs) {
    my $rs = $by{$c} or next;
    for my $k (qw(rps p50_ms p99_ms cpu_us_per_req busy_pct other_pct upstream_conns_per_1k)) {
        $med{$c}{$k} = median(map { $_->{$k} } @$rs);
    }
    if (grep { ($_->{redis_cmds} // '-') ne '-' } @$rs) {
        $med{$c}{redis} = 1;
        for my $k (qw(redis_us_per_req redis_busy_pct)) {
            $med{$c}{$k} = median(map { $_->{$k} } @$rs);
        }
        my @ru = sort { $a <=> $b } map { $_->{redis_us_per_req} } @$rs;
        ($med{$c}{redis_min}, $med{$c}{redis_max}) = ($ru[0], $ru[-1]);
        $med{$c}{sum_us_per_req} = median(map { $_->{cpu_us_per_req} + $_->{redis_us_per_req} } @$rs);
    }
    my @cpu = sort { $a <=> $b } map { $_->{cpu_us_per_req} } @$rs;
    ($med{$c}{cpu_min}, $med{$c}{cpu_max}) = ($cpu[0], $cpu[-1]);
    $med{$c}{rounds} = scalar @$rs;
}

my $base = $med{a} or die "report.pl: no plain proxy (a) measurements\n";

sub ratio { my ($x, $y) = @_; $y ? sprintf('%.2fx', $x / $y) : 'n/a' }

# the chart's data: one line per configuration, the medians' ratios
if ($chart) {
    print "# issue\tconfig\tlabel\trps_ratio\tcpu_ratio\n";
    for my $c (@configs) {
        my $m = $med{$c} or next;
        (my $l = "($issue{$c}) " . env("SHORT_$c", $label{$c})) =~ s/\t/ /g;
        $l =~ s/"/'/g;
        printf "%s\t%s\t\"%s\"\t%.4f\t%.4f\n", $issue{$c} || '-', $c, $l,
            $base->{rps} ? $m->{rps} / $base->{rps} : 0,
            $base->{cpu_us_per_req} ? $m->{cpu_us_per_req} / $base->{cpu_us_per_req} : 0;
    }
    exit 0;
}
# the Lua gateway's Redis CPU per request: INCR + EXPIRE, the reference for
# the full gateway's Redis CPU
my ($lua_ref) = grep { $med{$_} && $med{$_}{redis} } grep { $lua{$_} } @configs;

# a markdown table cell: "|" (config|resetstat) would end the cell
sub cell { my ($s) = @_; $s =~ s/\|/\\|/g; $s }

my @table;
push @table,
    '| # | | configuration | req/s | vs plain | p50 ms | vs plain | p99 ms | vs plain | worker CPU µs/req | vs plain | redis-server CPU µs/req | vs ' .
        ($lua_ref ? "($issue{$lua_ref}) Lua" : 'Lua') . ' | CPU µs/req min–max | gateway busy | others on its CPU | new upstream conns /1k req |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
for my $c (@configs) {
    my $m = $med{$c} or next;
    push @table, sprintf '| %s | %s | %s | %.0f | %s | %.3f | %s | %.3f | %s | %.2f | %s | %s | %s | %.2f–%.2f | %.0f %% | %.0f %% | %.1f |',
        $issue{$c}, $c, $label{$c}, $m->{rps}, ratio($m->{rps}, $base->{rps}),
        $m->{p50_ms}, ratio($m->{p50_ms}, $base->{p50_ms}),
        $m->{p99_ms}, ratio($m->{p99_ms}, $base->{p99_ms}),
        $m->{cpu_us_per_req}, ratio($m->{cpu_us_per_req}, $base->{cpu_us_per_req}),
        $m->{redis} ? sprintf('%.2f', $m->{redis_us_per_req}) : '–',
        $m->{redis} && $lua_ref ? ratio($m->{redis_us_per_req}, $med{$lua_ref}{redis_us_per_req}) : '–',
        $m->{cpu_min}, $m->{cpu_max}, $m->{busy_pct}, $m->{other_pct}, $m->{upstream_conns_per_1k};
}

# each round's ratio to that same round's plain proxy: measured a minute
# apart, so slow drift of the machine's speed cancels out
sub per_round {
    my ($c, $base_c, $k) = @_;
    $base_c //= 'a';
    $k //= 'cpu_us_per_req';
    my %a = map { $_->{round} => $_->{$k} } @{ $by{$base_c} || [] };
    my @r;
    for my $x (@{ $by{$c} || [] }) {
        my $b = $a{ $x->{round} };
        push @r, $b ? $x->{$k} / $b : ();
    }
    return 'n/a' unless @r;
    return join(' ', map { sprintf '%.2fx', $_ } @r)
        . sprintf ' (median %.2fx)', median(@r);
}

my @target;
my $all_pass = 1;

# one target: push its line, fold it into the verdict
sub target {
    my ($ok, $fmt, @args) = @_;
    $all_pass &&= $ok;
    push @target, sprintf($fmt, @args) . ' — **' . ($ok ? 'PASS' : 'FAIL') . '**';
}

sub rel { my ($c, $k, $b) = @_; $b //= $base; $b->{$k} ? $med{$c}{$k} / $b->{$k} : 9e9 }

# (4): JWT only, a repeated token: worker CPU and throughput
for my $c (grep { $med{$_} } @JWT_CONFIGS) {
    my ($cpu, $rps) = (rel($c, 'cpu_us_per_req'), rel($c, 'rps'));
    target($cpu <= $T{jwt_cpu}, '- (4) %s, (%s): worker CPU per request %.2fx of plain proxy (%.2f vs %.2f µs), target ≤ %.2fx; round by round: %s',
        $label{$c}, $c, $cpu, $med{$c}{cpu_us_per_req}, $base->{cpu_us_per_req}, $T{jwt_cpu}, per_round($c));
    target($rps >= $T{jwt_rps}, '- (4) %s, (%s): throughput %.2fx of plain proxy (%.0f vs %.0f req/s), target ≥ %.2fx; round by round: %s',
        $label{$c}, $c, $rps, $med{$c}{rps}, $base->{rps}, $T{jwt_rps}, per_round($c, 'a', 'rps'));
}

# (6): the full gateway, a repeated token
if (my $m = $med{g}) {
    my ($cpu, $rps) = (rel('g', 'cpu_us_per_req'), rel('g', 'rps'));
    target($cpu <= $T{gw_cpu}, '- (6) %s, (g): worker CPU per request %.2fx of plain proxy (%.2f vs %.2f µs), target ≤ %.2fx; round by round: %s',
        $label{g}, $cpu, $m->{cpu_us_per_req}, $base->{cpu_us_per_req}, $T{gw_cpu}, per_round('g'));
    target($rps >= $T{gw_rps}, '- (6) %s, (g): throughput %.2fx of plain proxy (%.0f vs %.0f req/s), target ≥ %.2fx; round by round: %s',
        $label{g}, $rps, $m->{rps}, $base->{rps}, $T{gw_rps}, per_round('g', 'a', 'rps'));
    target($m->{p99_ms} <= $base->{p99_ms} + $T{gw_p99_ms}, '- (6) %s, (g): p99 %.3f ms against plain proxy\'s %.3f ms, target ≤ plain + %.0f ms',
        $label{g}, $m->{p99_ms}, $base->{p99_ms}, $T{gw_p99_ms});
    if ($lua_ref && $m->{redis}) {
        my $l = $med{$lua_ref};
        target($m->{redis_us_per_req} < $l->{redis_us_per_req}, '- (6) %s, (g): redis-server CPU per request %.2f µs against %.2f µs for the Lua gateway\'s INCR + EXPIRE, (%s) (%.2fx), target below it',
            $label{g}, $m->{redis_us_per_req}, $l->{redis_us_per_req}, $lua_ref, $m->{redis_us_per_req} / ($l->{redis_us_per_req} || 1e-9));
    }
}

# (7) against (6): within 10 % on worker CPU and on throughput
if ($med{g} && $med{h}) {
    my ($cpu, $rps) = (rel('h', 'cpu_us_per_req', $med{g}), rel('h', 'rps', $med{g}));
    target($cpu <= 1 + $T{spread}, '- (7) %s, (h): worker CPU per request %.2fx of (6)\'s (%.2f vs %.2f µs), target ≤ %.2fx; round by round: %s',
        $label{h}, $cpu, $med{h}{cpu_us_per_req}, $med{g}{cpu_us_per_req}, 1 + $T{spread}, per_round('h', 'g'));
    target($rps >= 1 - $T{spread}, '- (7) %s, (h): throughput %.2fx of (6)\'s (%.0f vs %.0f req/s), target ≥ %.2fx; round by round: %s',
        $label{h}, $rps, $med{h}{rps}, $med{g}{rps}, 1 - $T{spread}, per_round('h', 'g', 'rps'));
}

# (5): a new RS256 token every request, against openssl speed's verify/s
my $verify_s = env('OPENSSL_VERIFY', '');
if ($med{e} && $verify_s ne '' && $verify_s > 0) {
    my $r = $med{e}{rps} / $verify_s;
    target($r >= 1 - $T{verify}, '- (5) %s, (e): %.0f req/s against `openssl speed rsa2048`\'s %.0f verify/s on the same core (%.2fx; from the worker\'s CPU alone, %.0f req/s would fit in a second, %.2fx), target ≥ %.2fx',
        $label{e}, $med{e}{rps}, $verify_s, $r, 1e6 / $med{e}{cpu_us_per_req},
        1e6 / $med{e}{cpu_us_per_req} / $verify_s, 1 - $T{verify});
}

# ours against the Lua gateway, both with JWT RS256 and Redis
if ($med{g} && $med{k}) {
    my $r = $med{g}{rps} / ($med{k}{rps} || 1e-9);
    target($r >= $T{vs_lua}, '- ours against the Lua gateway, both JWT RS256 with a Redis limit, (6) (g) against (3b) (k): throughput %.2fx (%.0f vs %.0f req/s), worker CPU per request %.2fx (%.2f vs %.2f µs), target ≥ %.1fx throughput; round by round: %s',
        $r, $med{g}{rps}, $med{k}{rps}, $med{g}{cpu_us_per_req} / ($med{k}{cpu_us_per_req} || 1e-9),
        $med{g}{cpu_us_per_req}, $med{k}{cpu_us_per_req}, $T{vs_lua}, per_round('g', 'k', 'rps'));
}

# exactly one Redis round trip per request: in every measurement, the
# EVALSHA count is at least the request count and at most CONNECTIONS more
# (the requests still in flight when wrk stopped: sent to Redis, not
# counted by wrk), and nothing else reaches Redis from nginx: no EVAL (a
# reloaded script), no other command
my $conns = env('CONNECTIONS', 0);
my %monitor;
for my $l (split /\n/, env('MONITOR', '')) {
    my ($c, $n, $es, $other, $inside, $lease) = split /\t/, $l;
    $monitor{$c} = { n => $n, evalsha => $es, other => $other, inside => $inside // '',
                     lease => { map { split /=/, $_, 2 } split /,/, $lease // '' } }
        if defined $other;
}
my %rt;        # per config: figures behind the round-trip verdict
for my $c (@RT_CONFIGS) {
    my $rs = $by{$c} or next;
    my ($ok, @per, %other, $eval, $off) = (1);
    $eval = 0;
    $off = 0;
    for my $x (@$rs) {
        my $k = classify($x);
        my $n = $x->{requests} || 0;
        push @per, $n ? $k->{evalsha} / $n : 0;
        $eval += $k->{eval};
        $other{$_} += $k->{other}{$_} for keys %{ $k->{other} };
        my $d = $k->{evalsha} - $n;
        $off = $d if abs($d) > abs($off);
        $ok = 0 if $d < 0 || $d > $conns || $k->{eval} != 0 || %{ $k->{other} };
    }
    my $mon = $monitor{$c};
    $ok = 0 if !$mon || $mon->{evalsha} != $mon->{n} || $mon->{other} != 0;
    $all_pass &&= $ok;
    $rt{$c} = { per => \@per, eval => $eval, other => \%other };
    my $other_s = %other ? join(', ', map { "`$_` $other{$_}" } sort keys %other) : 'none';
    push @target, sprintf '- (%s) %s, (%s): Redis round trips per request — EVALSHA/request %s (median %.4f; EVALSHA − requests at most %+d in a window, allowed 0 to +%d: the requests in flight when wrk stops), EVAL %d, other top-level commands from nginx: %s; MONITOR in the pre-flight: %s — **%s**',
        $issue{$c}, $label{$c}, $c, join(' ', map { sprintf '%.4f', $_ } @per), median(@per),
        $off, $conns, $eval, $other_s,
        $mon ? sprintf('%d requests, %d EVALSHA, %d other', $mon->{n}, $mon->{evalsha}, $mon->{other}) : 'not run',
        $ok ? 'PASS' : 'FAIL';
}

# LEASE (issue 17): the lease configurations against plain proxy, as the
# issue states its targets: worker CPU per request, throughput,
# redis-server CPU per request, EVALSHA per request (grants, exact
# decisions while a grant is pending, and give-backs: all EVALSHA); and
# the pre-flight's check that the counters came back to the requests sent
my @lease_configs = grep { $med{$_} } split ' ', env('LEASE_CONFIGS', '');
my (%lease, @lease_target);
for my $c (@lease_configs) {
    my $rs = $by{$c};
    my ($eval, %other, @per) = (0);
    for my $x (@$rs) {
        my $k = classify($x);
        my $n = $x->{requests} || 0;
        push @per, $n ? $k->{evalsha} / $n : 0;
        $eval += $k->{eval};
        $other{$_} += $k->{other}{$_} for keys %{ $k->{other} };
    }
    $rt{$c} = { per => \@per, eval => $eval, other => \%other };
    $lease{$c} = { evalsha => median(@per), per => \@per };
    # what the EVALSHA were, from the commands inside the script over all
    # rounds: the plan has a quota and a meter, so a grant of n > 1 units
    # runs two INCRBY, an exact decision two INCR, a give-back of unused
    # units two DECRBY
    my ($req, %in) = (0);
    for my $x (@$rs) {
        $req += $x->{requests} || 0;
        my $k = classify($x);
        $in{$_} += $k->{inside}{$_} // 0 for qw(incrby incr decrby);
    }
    @{ $lease{$c} }{qw(grants exact backs)} = map { $req ? $in{$_} / 2 * 1000 / $req : 0 } qw(incrby incr decrby);
    $lease{$c}{split} = $req ? sprintf('%.1f / %.1f / %.1f', @{ $lease{$c} }{qw(grants exact backs)}) : '–';
}
sub lease_line {          # a target line for (l) and (p), a figure for the others
    my ($c, $ok, $fmt, @args) = @_;
    if ($LEASE_TARGETED{$c}) {
        $all_pass &&= $ok;
        push @lease_target, sprintf($fmt, @args) . ' — **' . ($ok ? 'PASS' : 'FAIL') . '**';
    } else {
        push @lease_target, sprintf($fmt, @args) . ' (reported, no target' .
            ($ok ? '; within it' : '; beyond it') . ')';
    }
}
for my $c (@lease_configs) {
    my $m = $med{$c};
    my ($cpu, $rps) = (rel($c, 'cpu_us_per_req'), rel($c, 'rps'));
    my $es = $lease{$c}{evalsha};
    my $tag = "($issue{$c}) $label{$c}, ($c)";
    lease_line($c, $cpu <= $T{lease_cpu}, '- %s: worker CPU per request %.2fx of plain proxy (%.2f vs %.2f µs), target ≤ %.2fx; round by round: %s',
        $tag, $cpu, $m->{cpu_us_per_req}, $base->{cpu_us_per_req}, $T{lease_cpu}, per_round($c));
    lease_line($c, $rps >= $T{lease_rps}, '- %s: throughput %.2fx of plain proxy (%.0f vs %.0f req/s), target ≥ %.2fx; round by round: %s',
        $tag, $rps, $m->{rps}, $base->{rps}, $T{lease_rps}, per_round($c, 'a', 'rps'));
    lease_line($c, $m->{redis} && $m->{redis_us_per_req} <= $T{lease_redis_us},
        '- %s: redis-server CPU per request %.2f µs (min–max %.2f–%.2f), target ≤ %.0f µs',
        $tag, $m->{redis_us_per_req} // 0, $m->{redis_min} // 0, $m->{redis_max} // 0, $T{lease_redis_us});
    lease_line($c, $es <= $T{lease_evalsha} && $rt{$c}{eval} == 0 && !%{ $rt{$c}{other} },
        '- %s: EVALSHA per request %.4f (1/%.1f; rounds: %s), target ≤ 1/%d = %.4f, with no EVAL and no other top-level command (EVAL %d, other: %s)',
        $tag, $es, $es ? 1 / $es : 0, join(' ', map { sprintf '%.4f', $_ } @{ $lease{$c}{per} }),
        1 / $T{lease_evalsha}, $T{lease_evalsha}, $rt{$c}{eval},
        %{ $rt{$c}{other} } ? join(', ', map { "`$_` $rt{$c}{other}{$_}" } sort keys %{ $rt{$c}{other} }) : 'none');
    # the pre-flight: N requests of a new tenant, MONITOR, the counters
    # after the leases ended; a correctness check, so always in the verdict
    my $mon = $monitor{$c};
    my $l = $mon ? $mon->{lease} : {};
    my $ok = $mon && $mon->{evalsha} <= int($mon->{n} / 16) && $mon->{other} == 0
        && ($l->{grants} // 0) > 0
        && !grep { ($l->{$_} // '') ne $mon->{n} } qw(quota meter usage usage_meter);
    $all_pass &&= $ok;
    push @lease_target, sprintf '- %s: pre-flight, %s — **%s**', $tag,
        $mon ? sprintf('%d requests of a tenant new to Redis, one after the other: %d EVALSHA from nginx '
                       . '(%d grants, %d exact decisions, %d give-backs; at most %d allowed), %d other commands; '
                       . 'once the leases had ended, quota counter %s, meter counter %s, usage `requests` %s '
                       . 'and meter field %s, each to equal the %d requests',
                       $mon->{n}, $mon->{evalsha}, $l->{grants} // 0, $l->{exact} // 0, $l->{givebacks} // 0,
                       int($mon->{n} / 16), $mon->{other}, map({ $l->{$_} // '?' } qw(quota meter usage usage_meter)),
                       $mon->{n})
             : 'not run',
        $ok ? 'PASS' : 'FAIL';
}
push @target, '', sprintf('Leased allowances (`LEASE=1`, issue 17), against plain proxy: worker CPU per request ≤ %.2fx, '
        . 'throughput ≥ %.2fx, redis-server CPU ≤ %.0f µs per request (the Lua gateway\'s INCR + EXPIRE: about 17), '
        . 'EVALSHA ≤ 1/%d per request; targets for %s, the others reported (see *Leases* in the full report):',
        $T{lease_cpu}, $T{lease_rps}, $T{lease_redis_us}, 1 / $T{lease_evalsha},
        join(' and ', map { "($_)" } grep { $LEASE_TARGETED{$_} } @lease_configs) || 'none'), '', @lease_target
    if @lease_configs;

# the Lua gateways' commands per request: INCR and EXPIRE, pipelined
for my $c (grep { $lua{$_} } @configs) {
    my $rs = $by{$c} or next;
    my (@incr, @expire, %other);
    for my $x (@$rs) {
        my $k = classify($x);
        my $n = $x->{requests} || 1;
        my %o = %{ $k->{other} };
        push @incr, (delete($o{incr}) // 0) / $n;
        push @expire, (delete($o{expire}) // 0) / $n;
        $other{$_} += $o{$_} for keys %o;
    }
    $rt{$c} = { incr => median(@incr), expire => median(@expire), other => \%other };
}

my $rounds   = env('ROUNDS', '?');
my $duration = env('DURATION', '?');
my $distinct = env('DISTINCT', '?');
my $tenants  = env('TENANTS', '?');
my $cache    = env('CACHE_DEFAULT', 4096);
my $have_redis = grep { $med{$_} && $med{$_}{redis} } @configs;

my @md;
push @md, '# tenant_jwt gateway benchmark', '',
    'Generated by `bench/run` (see `bench/README.md` and `docs/performance.md`). Medians over the rounds; ' .
    'ratios are to configuration (a), plain `proxy_pass` without the module, in the same run. ' .
    'The first column is the configuration\'s number in the performance issue: 1 plain proxy, 2 nginx ' .
    '`limit_req`, 3 a Lua gateway from Debian\'s packages (3a Redis INCR+EXPIRE, 3b JWT RS256 in Lua plus the same), ' .
    '4 ours with JWT only, 5 ours RS256 with a new token on every request, 6 ours as the full gateway, ' .
    '7 the full gateway over many tenants.', '',
    '| | |', '|---|---|',
    '| date | ' . env('DATE', '?') . ' |',
    '| machine | ' . env('NPROC', '?') . ' CPUs, ' . env('MODEL', '?') . ' |',
    '| kernel | ' . env('KERNEL', '?') . ' |',
    '| nginx | ' . env('NGINX', '?') . ' |',
    '| module | ' . env('MODULE', '?') . ' |',
    '| OpenSSL | ' . env('OPENSSL', '?') . ' |',
    "| rounds | $rounds (interleaved: " . join(' ', @configs) . ', ' . join(' ', @configs) . ', …) |',
    "| duration | ${duration} s per measurement, after a " . env('WARMUP', '?') . ' s warm-up |',
    '| load | `wrk -t1 -c' . env('CONNECTIONS', '?') . " -d${duration}s --latency`, pinned to CPU " . env('LOAD_CPU', '?') . ' with the upstream nginx' .
        ($have_redis ? ' and redis-server' : '') . ' |',
    '| gateway | nginx `worker_processes 1`, pinned to CPU ' . env('GATEWAY_CPU', '?') .
        ', upstream keepalive ' . env('UPSTREAM_KEEPALIVE', '?') . ', `access_log off` |',
    '| load average | ' . env('LOADAVG', '?') . ' (other work on the machine adds noise) |',
    "| distinct tokens | $distinct RS256 tokens, cycled (" . env('MINT_INFO', '?') . ') |';
if ($have_redis) {
    push @md,
        '| Redis | redis-server ' . env('REDIS_VERSION', '?') . ' on 127.0.0.1, pinned to CPU ' . env('LOAD_CPU', '?') .
            ", `--save '' --appendonly no`, started by the run |",
        '| (g), (h) | `tenant_redis … timeout=' . env('REDIS_TIMEOUT', '?') . '`, `tenant_redis_failure deny`, `tenant_plan pro ' .
            env('PLAN', '?') . '`, `tenant_default_plan pro`, `tenant_limit on` |',
        "| tenants | (h): $tenants RS256 tokens of as many tenants, cycled (" . env('TENANTS_MINT_INFO', '?') . ') |';
    push @md,
        '| (x), leases | as (g), the plan with `' . env('PLAN_METER', 'meter') . '` and `tenant_meter bench` in the location; ' .
            join(', ', map { "($_) `tenant_limit_lease " . env("LEASE_CONF_$_", 'on') . '` over ' .
                 env("LEASE_TENANTS_$_", 1) . ' tenant' . (env("LEASE_TENANTS_$_", 1) == 1 ? '' : 's') }
                 grep { $med{$_} } split ' ', env('LEASE_CONFIGS', '')) . ' |'
        if $med{x} || env('LEASE_CONFIGS', '') ne '';
}
push @md, '';

push @md, '## Results', '', @table, '',
    '*gateway busy* is the worker\'s CPU time over the wall time of the measurement: near 100 % the ' .
    'gateway was the bottleneck; well below it, either the load side (wrk and the upstream on the ' .
    'other CPU) was, or *others on its CPU* took the rest: the time the gateway\'s CPU was busy ' .
    'but not in the worker (other processes, interrupts not charged to the worker, hypervisor steal). A half-idle worker\'s ' .
    'CPU per request runs higher (fewer requests per event-loop pass), and others on its CPU ' .
    'disturb its caches: both are noise in CPU µs/req. *new upstream conns /1k req* counts the ' .
    'connections the gateway opened to the upstream (the upstream\'s stub_status) per 1000 requests: ' .
    'with more requests in flight than the upstream block\'s `keepalive` keeps idle, the surplus ' .
    'connections are closed and reopened, and that cost is in every configuration\'s CPU µs/req.', '';
my $ka = env('UPSTREAM_KEEPALIVE', 0);
if ($ka =~ /^\d+$/ && $conns =~ /^\d+$/ && $ka < $conns) {
    push @md, "**Note:** upstream `keepalive $ka` is below the $conns client connections, so the " .
        'gateway keeps opening new upstream connections (see the last column). That cost is in the ' .
        'plain proxy\'s CPU µs/req too, so it makes the ratios smaller. UPSTREAM_KEEPALIVE=' . $conns .
        ' or more removes it.', '';
}

push @md, '## Targets', '',
    "The issue's targets, each against plain proxy (or as said) in the same run: (4) JWT only, worker CPU per request " .
    "≤ $T{jwt_cpu}x and throughput ≥ $T{jwt_rps}x; (6) the full gateway, worker CPU ≤ $T{gw_cpu}x, throughput ≥ $T{gw_rps}x, " .
    "p99 ≤ plain's + $T{gw_p99_ms} ms, exactly one Redis round trip per request, and redis-server CPU per request below " .
    'the Lua gateway\'s INCR + EXPIRE; (7) within ' . 100 * $T{spread} . ' % of (6); (5) within ' . 100 * $T{verify} .
    ' % of `openssl speed rsa2048`\'s verify/s; ours at least ' . $T{vs_lua} . 'x the throughput of the Lua gateway with JWT RS256. ' .
    'PASS or FAIL is decided on the ratio of the medians; the round-by-round ratios show how steady it was.', '',
    @target, '',
    '**Target: ' . ($all_pass ? 'PASS' : 'FAIL') . '**', '';

# ----------------------------------------------------------------- Redis
my @redis_table;
if ($have_redis) {
    my %pair = (g => 'c', h => 'c', j => 'a',     # without Redis (h: one tenant)
                x => 'c', l => 'c', p => 'c', q => 'c', r => 'c');
    push @redis_table,
        '| # | | configuration | gateway CPU µs/req | same without Redis | Redis\' cost at the gateway | redis-server CPU µs/req | redis-server µs/req min–max | redis-server busy | gateway + redis-server µs/req | round trips /req | EVAL | other top-level |',
        '|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|';
    for my $c (@configs) {
        my $m = $med{$c} or next;
        next unless $m->{redis};
        my $p = $pair{$c};
        my $pm = $p ? $med{$p} : undef;
        my $rt = $rt{$c} || { per => [], eval => 0, other => {} };
        my $other = $rt->{other};
        my $trips = $lua{$c}
            ? sprintf('1 pipeline: INCR %.4f, EXPIRE %.4f', $rt->{incr} // 0, $rt->{expire} // 0)
            : @{ $rt->{per} } ? sprintf('EVALSHA %.4f', median(@{ $rt->{per} })) : 'n/a';
        push @redis_table, sprintf '| %s | %s | %s | %.2f | %s | %s | %.2f | %.2f–%.2f | %.0f %% | %.2f | %s | %d | %s |',
            $issue{$c}, $c, $label{$c}, $m->{cpu_us_per_req},
            $pm ? sprintf('(%s) %.2f', $p, $pm->{cpu_us_per_req}) : 'n/a',
            $pm ? sprintf('%+.2f µs (%s round by round: %s)', $m->{cpu_us_per_req} - $pm->{cpu_us_per_req},
                          "$c/$p", per_round($c, $p)) : 'n/a',
            $m->{redis_us_per_req}, $m->{redis_min}, $m->{redis_max}, $m->{redis_busy_pct},
            $m->{sum_us_per_req}, $trips, $rt->{eval} // 0,
            %$other ? cell(join(', ', map { "$_ $other->{$_}" } sort keys %$other)) : 'none';
    }

    # inside the script: calls per request, one figure if every round
    # agrees to two decimals, else round by round (EXPIREAT in (h): only
    # while tenants are new)
    my @inside;
    for my $c (@configs) {
        next unless $med{$c} && $med{$c}{redis};
        if ($lua{$c}) {
            my $mon = $monitor{$c};
            push @inside, sprintf '- (%s): no script; from nginx, per request: `INCR` %.2f, `EXPIRE` %.2f, in one pipeline%s', $c,
                $rt{$c}{incr} // 0, $rt{$c}{expire} // 0,
                $mon ? sprintf('; MONITOR in the pre-flight (%d requests): %s', $mon->{n},
                    join(', ', map { my ($k, $v) = split /=/; "`\U$k\E` $v" } split /,/, $mon->{inside})) : '';
            next;
        }
        my (%per, %seen);
        for my $x (@{ $by{$c} }) {
            my $k = classify($x);
            $seen{$_} = 1 for keys %{ $k->{inside} };
        }
        for my $cmd (sort keys %seen) {
            my %v;
            for my $x (@{ $by{$c} }) {
                my $k = classify($x);
                $v{ $x->{round} } = sprintf '%.2f',
                    $x->{requests} ? ($k->{inside}{$cmd} // 0) / $x->{requests} : 0;
            }
            my @r = sort { $a <=> $b } keys %v;
            my %u = map { $v{$_} => 1 } @r;
            $per{$cmd} = keys %u == 1 ? $v{ $r[0] }
                : join(' / ', map { $v{$_} } @r) . ' (rounds ' . join(', ', @r) . ')';
        }
        push @inside, sprintf '- (%s): %s', $c,
            %per ? join(', ', map { sprintf '`%s` %s', uc $_, $per{$_} } sort keys %per) : 'none';
        if (my $mon = $monitor{$c}) {
            $inside[-1] .= sprintf '; MONITOR in the pre-flight (%d requests, commands marked `lua`): %s',
                $mon->{n}, join(', ', map { my ($k, $v) = split /=/; "`\U$k\E` $v" } split /,/, $mon->{inside});
        }
    }

    my @top = ('| round | config | requests | EVALSHA | EVALSHA /req | EVAL | other top-level from nginx | the bench\'s own |',
               '|---:|---|---:|---:|---:|---:|---|---|');
    for my $x (@rows) {
        next unless ($x->{redis_cmds} // '-') ne '-';
        next if $lua{ $x->{config} };
        my $k = classify($x);
        push @top, sprintf '| %s | %s | %d | %d | %.4f | %d | %s | %s |', $x->{round}, $x->{config},
            $x->{requests}, $k->{evalsha}, $x->{requests} ? $k->{evalsha} / $x->{requests} : 0, $k->{eval},
            (%{ $k->{other} } ? join(', ', map { '`' . cell(uc $_) . "` $k->{other}{$_}" } sort keys %{ $k->{other} }) : 'none'),
            join(', ', map { '`' . cell(uc $_) . "` $k->{own}{$_}" } sort keys %{ $k->{own} });
    }
    my @busy_note;
    my @idle = grep { $med{$_} && $med{$_}{redis} && $med{$_}{busy_pct} < 85 } @configs;
    if (@idle) {
        push @busy_note, sprintf '**Note:** the gateway worker was busy only part of the time (%s; plain proxy %.0f %%), ' .
            'while redis-server took %s of a CPU by itself%s. A worker that often waits ' .
            'does fewer requests per event-loop pass and pays more system calls per request, so its CPU µs/req, ' .
            'and the ratio to plain proxy, come out higher than with a load side to spare.',
            join(', ', map { sprintf '(%s) %.0f %%', $_, $med{$_}{busy_pct} } @idle), $base->{busy_pct},
            join(', ', map { sprintf '(%s) %.0f %%', $_, $med{$_}{redis_busy_pct} } @idle),
            env('REDIS_CPU', '') eq env('LOAD_CPU', '')
                ? ' on CPU ' . env('LOAD_CPU', '?') . ', beside wrk and the upstream: that side ran out of CPU first'
                : '';
    }
    push @md, '## Redis', '',
        '(g) sends the same request as (c), and (h) the same kind as (e) (a new RS256 token each time, ' .
        'so every request misses the verified-token cache), each now also checked and counted in Redis. ' .
        'The difference to (c) and (e) is what the Redis step costs the gateway worker: building the ' .
        'EVALSHA, hiredis, the extra event-loop wake-up for the reply, the limit headers. ' .
        '(j) and (k), the Lua gateway, send `INCR` and `EXPIRE` in one pipeline per request instead; ' .
        '(j) − (a) is what that costs its worker, and their redis-server CPU per request is the reference ' .
        'for ours (two trivial commands, against a script doing the rate, the quota, the tenant\'s status ' .
        'and the revocation check).', '',
        @redis_table, '', (map { ($_, '') } @busy_note),
        '*redis-server CPU µs/req* is utime+stime of the redis-server process (all its threads) from ' .
        '/proc/PID/stat over the measured window, divided by the requests wrk completed. redis-server ' .
        (env('REDIS_CPU', '') eq env('LOAD_CPU', '')
            ? 'runs on CPU ' . env('LOAD_CPU', '?') . ' with wrk and the upstream: in (g) and (h) the load side has that much less of its CPU than in the other configurations'
            : 'runs on CPU ' . env('REDIS_CPU', '?') . ', wrk and the upstream on CPU ' . env('LOAD_CPU', '?')) .
        '. *EVALSHA /req* and the rest come from `CONFIG ' .
        'RESETSTAT` before the window and `INFO commandstats` after it: the requests still in flight when wrk stops ' .
        "(up to $conns) went to Redis but are not in wrk's count. `CONFIG RESETSTAT` itself is counted; the closing `INFO` is not.", '',
        'Top-level commands, i.e. round trips, in each measured window:', '',
        @top, '',
        'Commands run inside the script, per request (Redis 7 counts them in commandstats too; they ' .
        'are not round trips, and they are not sent by nginx):', '',
        @inside, '';
    if ($tenants =~ /^\d+$/ && $tenants <= $cache) {
        push @md, "**Note:** only $tenants tenants, whose tokens fit in the default tenant_jwt_cache " .
            "($cache): (h) mostly hits the cache and is not the every-token-is-new case. Use the default TENANTS=100000 for that.", '';
    }
}

# ---------------------------------------------------------------- Leases
if (@lease_configs) {
    my $x = $med{x};
    # the worker's lease table (NGX_HTTP_TENANT_LEASE_SLOTS, read from the
    # source by bench/run)
    my $slots = env('LEASE_SLOTS', 256);
    my @lt = ('| # | | configuration | lease | tenants | req/s | vs plain | worker CPU µs/req | vs plain | vs (x) exact | '
              . 'redis-server CPU µs/req | vs (x) exact | EVALSHA /req | requests per EVALSHA | per 1000 requests: grants / exact / give-backs | requests per tenant per ttl | gateway busy |',
              '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    my @rows_c = grep { $med{$_} } ('x', @lease_configs);
    my @stop;
    for my $c (@rows_c) {
        my $m = $med{$c};
        my $es = $c eq 'x' ? median(@{ $rt{x}{per} || [] }) // 0 : $lease{$c}{evalsha};
        my $tenants_c = env("LEASE_TENANTS_$c", 1);
        my $ttl = env("LEASE_TTL_MS_$c", 0);
        # how many requests of one tenant arrive at the worker within one
        # ttl: what a lease of up to max units can serve at best
        my $per_ttl = $ttl ? $m->{rps} * $ttl / 1000 / $tenants_c : 0;
        push @lt, sprintf '| %s | %s | %s | %s | %s | %.0f | %s | %.2f | %s | %s | %s | %s | %.4f | %s | %s | %s | %.0f %% |',
            $issue{$c}, $c, $label{$c}, $c eq 'x' ? 'off' : '`' . env("LEASE_CONF_$c", 'on') . '`',
            $c eq 'x' ? 1 : $tenants_c, $m->{rps}, ratio($m->{rps}, $base->{rps}),
            $m->{cpu_us_per_req}, ratio($m->{cpu_us_per_req}, $base->{cpu_us_per_req}),
            $x && $c ne 'x' ? ratio($m->{cpu_us_per_req}, $x->{cpu_us_per_req}) : '–',
            $m->{redis} ? sprintf('%.2f', $m->{redis_us_per_req}) : '–',
            $x && $m->{redis} && $c ne 'x' ? ratio($m->{redis_us_per_req}, $x->{redis_us_per_req}) : '–',
            $es, $es ? sprintf('%.1f', 1 / $es) : '–',
            $c eq 'x' ? '0 / 1000 / 0' : $lease{$c}{split},
            $c eq 'x' ? '–' : sprintf('%.2f', $per_ttl), $m->{busy_pct};
        next if $c eq 'x';
        # where leases stop helping: a tenant whose lease is gone when it
        # comes back gets a lease per request and gives it back, two
        # EVALSHA for one request.  The tenants are cycled, so between two
        # requests of a tenant the worker sees all the others: with more
        # than its lease slots the lease is evicted (least recently used)
        # before its tenant comes back, whatever the ttl; and a tenant that
        # comes back after more than a ttl finds its lease ended
        if ($es >= 0.5 || ($x && $m->{redis} && $x->{redis} && $m->{redis_us_per_req} >= $x->{redis_us_per_req})) {
            my $gap = $m->{rps} ? $tenants_c / $m->{rps} : 0;
            my @why;
            push @why, sprintf 'between two requests of a tenant the worker sees the %d others, more than its %d '
                . 'lease slots, so the lease is evicted (least recently used, its units given back) before its tenant '
                . 'comes back, whatever the ttl', $tenants_c - 1, $slots
                if $tenants_c > $slots;
            push @why, sprintf 'a tenant comes back every %.2f s, longer than the ttl of %d ms, so its lease has ended by then',
                $gap, $ttl
                if $gap * 1000 > $ttl;
            push @why, sprintf 'a tenant comes back every %.2f s, within the ttl of %d ms', $gap, $ttl
                if $gap * 1000 <= $ttl && $tenants_c > $slots;
            push @stop, sprintf '- (%s), %d tenants at %.0f req/s (%.2f requests of a tenant per ttl): %s. So nearly '
                . 'every request needs a grant, and the unused units are given back with another EVALSHA: %.2f EVALSHA '
                . 'per request (per 1000 requests: %s grants / exact / give-backs), against %s for the exact mode (x); '
                . 'redis-server %.2f µs per request against %s. **Leases stop helping here**: this is the exact mode\'s '
                . 'cost or more.',
                $c, $tenants_c, $m->{rps}, $per_ttl, join('; ', @why) || 'leases are not reused',
                $es, $lease{$c}{split}, $x ? sprintf('%.2f', median(@{ $rt{x}{per} || [] }) // 0) : 'n/a',
                $m->{redis_us_per_req} // 0, $x && $x->{redis} ? sprintf('%.2f µs', $x->{redis_us_per_req}) : 'n/a';
        } else {
            my $max = env("LEASE_CONF_$c", '') =~ /max=(\d+)/ ? $1 : 64;
            my ($g, $e, $b) = @{ $lease{$c} }{qw(grants exact backs)};
            # from the commands inside the script: per 1000 requests, g
            # grants, e exact decisions, b give-backs
            my $why = sprintf ': per 1000 requests, %.1f grants (full leases of %d would need %.1f), %.1f give-backs '
                . '(%.0f %% of the leases ended, at their ttl or evicted, with units left) and %.1f requests decided '
                . 'exactly', $g, $max, 1000 / $max, $b, $g ? 100 * $b / $g : 0, $e;
            $why .= sprintf '; these are the requests of the same token that arrive while the worker waits for a '
                . 'grant (up to %d of wrk\'s connections), one EVALSHA each, about %.0f per grant', $conns - 1, $e / $g
                if $g && $e / $g >= 1;
            $why .= $per_ttl < $max
                ? sprintf('; with %.0f requests of a tenant per ttl, below max=%d, a lease ends at its ttl before its units run out', $per_ttl, $max)
                : sprintf('; with %.0f requests of a tenant per ttl, above max=%d, leases run out of units before their ttl', $per_ttl, $max);
            push @stop, sprintf '- (%s), %d tenant%s at %.0f req/s: %.2f requests of a tenant per ttl (%d ms); one EVALSHA '
                . 'serves %.1f requests%s.',
                $c, $tenants_c, $tenants_c == 1 ? '' : 's', $m->{rps}, $per_ttl, $ttl, $es ? 1 / $es : 0, $why;
        }
    }
    push @md, '## Leases', '',
        '`LEASE=1` (issue 17): (x) is (g) with a meter (`tenant_meter bench`, `meter=bench:999999999/day` in the plan, ' .
        'never reached), decided exactly, one `EVALSHA` per request; (l) is (x) with `tenant_limit_lease on` (max=64, ' .
        'ttl=200ms): the worker asks Redis for up to 64 units of each limit in one `EVALSHA` and admits the next ' .
        'requests of the token from them. (p) and (q) are (l) with each request a token of a different tenant, ' .
        'cycled as in (h), over few and over many tenants. `EVALSHA` counts the grants, the requests decided exactly ' .
        'while a grant is pending, and the give-backs of unused units (mode "G") alike; which they were is counted from ' .
        'the commands inside the script (the plan has a quota and a meter: a grant runs two `INCRBY`, an exact decision ' .
        'two `INCR`, a give-back two `DECRBY`). *Requests per tenant per ttl* ' .
        'is req/s × ttl / tenants: what one lease can serve at best.', '',
        @lt, '', 'Where leases help, and where they stop helping:', '', @stop, '';
}

my $verify = env('OPENSSL_VERIFY', '');
push @md, '## Reference: RSA-2048 verification alone', '';
if ($verify ne '') {
    my $us = 1e6 / $verify;
    push @md, sprintf('`openssl speed -seconds 3 rsa2048` on the gateway\'s CPU, just before the rounds: %.0f verify/s, i.e. %.1f µs per verification. On a busy or shared machine the CPU\'s speed drifts between then and the measurements.', $verify, $us);
    for my $c (qw(e f h k)) {
        my $m = $med{$c} or next;
        push @md, sprintf('(%s) %s spends %.2f µs/req more than plain proxy (%.2f verifications\' worth), at %.0f req/s.',
            $c, $label{$c}, $m->{cpu_us_per_req} - $base->{cpu_us_per_req},
            ($m->{cpu_us_per_req} - $base->{cpu_us_per_req}) / $us, $m->{rps});
    }
} else {
    push @md, 'Not measured (NO_OPENSSL_SPEED was set, or openssl speed failed).';
}
push @md, '';

if ($distinct =~ /^\d+$/ && $distinct <= $cache) {
    push @md, "**Note:** only $distinct distinct tokens, which fit in the default " .
        "tenant_jwt_cache ($cache): configuration (e) mostly hits the cache and is not " .
        'the every-token-is-new case. Use the default DISTINCT=100000 for that.', '';
}

my $elog = env('ERROR_LOG', '');
if ($elog ne '') {
    push @md, '**Note:** gateways wrote to their error logs during these measurements (round, config, lines): ' .
        join('; ', map { join(' ', split /\t/) } split /\n/, $elog) . '. See `bench/out/nginx/<config>/logs/error.log`.', '';
}

push @md, '## Every measurement', '',
    'CPU is utime+stime of the gateway worker from /proc/PID/stat over the measured window ' .
    '(clock tick ' . sprintf('%.0f', 1e6 / (env('CLK_TCK', 100) || 100)) . ' µs), divided by the requests wrk completed.' .
    ($have_redis ? ' Redis: the same for the redis-server process, and its commands as `INFO commandstats` counted them over the window.' : ''), '',
    '| round | config | requests | req/s | p50 ms | p99 ms | non-2xx | socket errors | CPU ticks | CPU µs/req | gateway busy | others on its CPU | new upstream conns /1k req |' .
        ($have_redis ? ' redis-server CPU µs/req | redis-server busy | Redis commands in the window |' : ''),
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|' . ($have_redis ? '---:|---:|---|' : '');
for my $r (@rows) {
    my $redis = ($r->{redis_cmds} // '-') ne '-';
    push @md, sprintf('| %s | %s | %s | %.0f | %.3f | %.3f | %s | %s | %s | %.2f | %.0f %% | %.0f %% | %.1f |',
        $r->{round}, $r->{config}, $r->{requests}, $r->{rps}, $r->{p50_ms},
        $r->{p99_ms}, $r->{non2xx}, $r->{sock_errors}, $r->{cpu_ticks},
        $r->{cpu_us_per_req}, $r->{busy_pct}, $r->{other_pct}, $r->{upstream_conns_per_1k})
        . (!$have_redis ? '' : sprintf ' %s | %s | %s |',
            $redis ? sprintf('%.2f', $r->{redis_us_per_req}) : '',
            $redis ? sprintf('%.0f %%', $r->{redis_busy_pct}) : '',
            $redis ? cell(join(' ', map { s/=/ /r } split /,/, $r->{redis_cmds})) : '');
}
push @md, '';

open my $out, '>', $outfile or die "$outfile: $!\n";
print $out join("\n", @md);
close $out or die "$outfile: $!\n";

# the part of the report that docs/performance.md shows (bench/run puts it
# between the markers there): what was run, the table, the targets
if (my $snip = env('DOCS_SNIPPET', '')) {
    my @d = (sprintf('Measured %s on %s CPUs (%s), %s; %s rounds of %s s, interleaved; medians. ' .
                     'Load average %s. Full report: [bench/results.md](../bench/results.md).',
                     env('DATE', '?'), env('NPROC', '?'), env('MODEL', '?'), env('NGINX', '?'),
                     $rounds, $duration, env('LOADAVG', '?')),
             '', @table, '', @target, '', '**Targets: ' . ($all_pass ? 'PASS' : 'FAIL') . '**');
    open my $sf, '>', $snip or die "$snip: $!\n";
    print $sf join("\n", @d), "\n";
    close $sf or die "$snip: $!\n";
}

print "\n", join("\n", @table), "\n\n", join("\n", @target), "\n";
print "\n", join("\n", @redis_table), "\n" if @redis_table;
print 'Target: ' . ($all_pass ? 'PASS' : 'FAIL') . "\n";
