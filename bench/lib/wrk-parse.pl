#!/usr/bin/perl
# Reads one wrk --latency output on stdin, prints one tab-separated line:
#   requests seconds rps p50_ms p99_ms non2xx sock_errors
# (non2xx is wrk's "Non-2xx or 3xx responses", i.e. statuses >= 400;
# sock_errors is connect+read+write+timeout).  Exits 1 if the output has
# no request count or no latency distribution.

use strict;
use warnings;

my %u = (us => 0.001, ms => 1, s => 1000, m => 60000);
my ($req, $secs, $rps, %pct, $non2xx, $sock) = (undef, undef, undef);
$non2xx = 0;
$sock = 0;

while (my $l = <STDIN>) {
    if ($l =~ /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b/) {
        ($req, $secs) = ($1, $2 * $u{$3} / 1000);
    } elsif ($l =~ /^Requests\/sec:\s*([\d.]+)/) {
        $rps = $1;
    } elsif ($l =~ /^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/) {
        $pct{$1} = $2 * $u{$3};
    } elsif ($l =~ /Non-2xx or 3xx responses:\s*(\d+)/) {
        $non2xx = $1;
    } elsif ($l =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        $sock = $1 + $2 + $3 + $4;
    }
}

exit 1 unless defined $req && defined $rps && defined $pct{50} && defined $pct{99};
printf "%d\t%.3f\t%.2f\t%.3f\t%.3f\t%d\t%d\n",
    $req, $secs, $rps, $pct{50}, $pct{99}, $non2xx, $sock;
