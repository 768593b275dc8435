#!/usr/bin/perl
# The A/B part of bench/run: configuration (g) against its variants, round
# by round, from raw.tsv.
#
#   ab.pl RAW.tsv
#
# (o) is (g) with BASELINE_MODULE: the ratios are new / old, i.e. (g) / (o).
# (t) is (g) with Redis over TLS: the ratios are TLS / plain, (t) / (g).
# (u) and (v) are (c) and (e) with the key from tenant_jwt_jwks_url: the
# ratios are URL / file, (u) / (c) and (v) / (e).
# (m) is (g) with tenant_metrics_zone: the ratios are with / without,
# (m) / (g); target: worker CPU per request within +2 % (METRICS_CPU_TARGET,
# 1.02) on the median of the per-round ratios.
# For each: the gateway worker's CPU per request and the throughput, each
# round's own pair (measured seconds apart), the median of those per-round
# ratios and the ratio of the medians.  Prints Markdown; nothing when
# none of (o), (t), (u), (v) was measured.  REPORT_BASELINE_INFO names the
# baseline module.  Target for (o): worker CPU per request of (g) within
# +5 % of the baseline's on the median of the per-round ratios
# (AB_CPU_TARGET, 1.05).

use strict;
use warnings;

my $raw = shift // die "usage: ab.pl RAW.tsv\n";
my $TARGET = $ENV{AB_CPU_TARGET} // 1.05;

open my $fh, '<', $raw or die "ab.pl: $raw: $!\n";
my @cols = split /\t/, do { my $h = <$fh>; chomp $h; $h };
my %by;    # config -> round -> row
while (my $l = <$fh>) {
    chomp $l;
    next unless length $l;
    my %r;
    @r{@cols} = split /\t/, $l;
    $by{ $r{config} }{ $r{round} } = \%r;
}
close $fh;

sub median {
    my @v = sort { $a <=> $b } @_;
    return 0 unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

my @md;
sub pair {
    my ($title, $num, $den, $what) = @_;
    my ($n, $d) = ($by{$num}, $by{$den});
    return unless $n && $d;
    my @rounds = sort { $a <=> $b } grep { $d->{$_} } keys %$n;
    return unless @rounds;
    my (@rc, @rr);
    push @md, "### $title", '',
        "| round | ($num) µs/req | ($den) µs/req | CPU/req $what | ($num) req/s | ($den) req/s | req/s $what |"
        . " ($num) busy | ($den) busy |",
        '|---|---|---|---|---|---|---|---|---|';
    for my $r (@rounds) {
        my ($x, $y) = ($n->{$r}, $d->{$r});
        my $c = $x->{cpu_us_per_req} / ($y->{cpu_us_per_req} || 1e-9);
        my $t = $x->{rps} / ($y->{rps} || 1e-9);
        push @rc, $c;
        push @rr, $t;
        push @md, sprintf '| %d | %.2f | %.2f | %.3fx | %.0f | %.0f | %.3fx | %.1f %% | %.1f %% |',
            $r, $x->{cpu_us_per_req}, $y->{cpu_us_per_req}, $c, $x->{rps}, $y->{rps}, $t,
            $x->{busy_pct}, $y->{busy_pct};
    }
    my ($mc, $md_) = (median(map { $n->{$_}{cpu_us_per_req} } @rounds),
                      median(map { $d->{$_}{cpu_us_per_req} } @rounds));
    my ($mr, $mdr) = (median(map { $n->{$_}{rps} } @rounds), median(map { $d->{$_}{rps} } @rounds));
    push @md, sprintf '| **median** | %.2f | %.2f | **%.3fx** (of the medians: %.3fx) | %.0f | %.0f |'
        . ' **%.3fx** (of the medians: %.3fx) | | |',
        $mc, $md_, median(@rc), $mc / ($md_ || 1e-9), $mr, $mdr, median(@rr), $mr / ($mdr || 1e-9);
    push @md, '';
    return (median(@rc), median(@rr), [@rc], [@rr]);
}

if ($by{o}) {
    my ($c, $t, $rc) = pair('(g) against the baseline module (o): new / old', 'g', 'o', 'new/old');
    if (defined $c) {
        unshift @md, '## A/B: this build against the baseline', '',
            'Configuration (g), the full gateway, measured twice in every round: with this build'
            . ' (g) and with `BASELINE_MODULE` (o), ' . ($ENV{REPORT_BASELINE_INFO} // '') . ','
            . ' right after each other. A ratio above 1 means this build costs more CPU per request'
            . ' (or, for req/s, serves more).', '';
        push @md, sprintf '**Target: %s**: worker CPU per request of (g) within +%.0f %% of the'
            . ' baseline\'s, on the median of the per-round ratios: %.3fx over %d rounds%s.', 
            $c <= $TARGET ? 'PASS' : 'FAIL', ($TARGET - 1) * 100, $c, scalar @$rc,
            @$rc < 5 ? ' (fewer than the 5 rounds the target asks for)' : '';
        push @md, '';
    }
}
if ($by{t}) {
    my $start = @md;
    my ($c) = pair('(t), Redis over TLS, against (g), plain text: TLS / plain', 't', 'g', 'TLS/plain');
    splice @md, $start, 0, '## Redis over TLS', '',
        'Configuration (g) with `tenant_redis ... tls` to the same redis-server\'s `--tls-port`'
        . ' (t), against (g) over plain text, measured in the same rounds.', ''
        if defined $c;
}
if ($by{m}) {
    my $start = @md;
    my $target = $ENV{METRICS_CPU_TARGET} // 1.02;
    my ($c, $t, $rc) = pair('(m), with tenant_metrics_zone, against (g), without: with / without',
                            'm', 'g', 'with/without');
    if (defined $c) {
        splice @md, $start, 0, '## Metrics (METRICS_G)', '',
            'Configuration (g) with `tenant_metrics_zone` (1m, tenants=1000) and a `/metrics`'
            . ' location the load does not touch (m), against (g) without it, the same build,'
            . ' measured right after each other in every round.', '';
        push @md, sprintf '**Target: %s**: worker CPU per request of (m) within +%.0f %% of (g)\'s,'
            . ' on the median of the per-round ratios: %.3fx over %d rounds%s.',
            $c <= $target ? 'PASS' : 'FAIL', ($target - 1) * 100, $c, scalar @$rc,
            @$rc < 5 ? ' (fewer than the 5 rounds the target asks for)' : '';
        push @md, '';
    }
}
for my $p (['u', 'c', '(u), key from tenant_jwt_jwks_url, against (c), key file: URL / file, a repeated token'],
           ['v', 'e', '(v), key from tenant_jwt_jwks_url, against (e), key file: URL / file, distinct tokens']) {
    my ($num, $den, $title) = @$p;
    next unless $by{$num};
    my $start = @md;
    my ($c, $t) = pair($title, $num, $den, 'URL/file');
    next unless defined $c;
    splice @md, $start, 0, '## Keys from a URL (JWKS_URL)', '',
        "Configuration ($den) with its key from `tenant_jwt_jwks_url` served by the upstream"
        . " ($num), measured right after ($den) in every round.", ''
        if $num eq 'u' || !$by{u};
}
print map { "$_\n" } @md;
