#!/usr/bin/perl
# How long the processes of bench/faults waited for a CPU.
#
#   sched.pl OUTFILE STOPFILE TAG=PARENT_PID...
#
# Every 10 ms, until STOPFILE exists, reads /proc/PID/schedstat of each
# child of each PARENT_PID (the nginx workers of the gateway and of the
# upstream, the probe's lanes) and appends "time tag pid run_ns wait_ns":
# the time it ran and the time it waited on a run queue, ready to run
# but given no CPU, since it started.  On a shared machine a request can
# be slow only because its worker, or the probe, was not scheduled;
# lib/faults/analyze.pl tells those from slowness the gateway caused.

use strict;
use warnings;

use Time::HiRes qw(time sleep);

my ($out, $stop, @parents) = @ARGV;
die "usage: sched.pl OUTFILE STOPFILE TAG=PARENT_PID...\n" unless @parents;

open my $fh, '>', $out or die "sched.pl: $out: $!\n";

until (-e $stop) {
    my $now = time;
    my @pids;
    for my $tp (@parents) {
        my ($tag, $p) = split /=/, $tp, 2;
        open my $c, '<', "/proc/$p/task/$p/children" or next;
        push @pids, map { [$tag, $_] } split ' ', (<$c> // '');
        close $c;
    }
    for my $tp (@pids) {
        my ($tag, $pid) = @$tp;
        open my $s, '<', "/proc/$pid/schedstat" or next;
        my $line = <$s>;
        close $s;
        next unless defined $line;
        my ($run, $wait) = split ' ', $line;
        printf $fh "%.6f\t%s\t%d\t%s\t%s\n", $now, $tag, $pid, $run, $wait;
    }
    sleep 0.01;
}
close $fh;
