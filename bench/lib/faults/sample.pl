#!/usr/bin/perl
# One sample of the gateway's workers for bench/faults.
#
#   sample.pl LABEL MASTER_PID GATEWAY_PORT UPSTREAM_PORT REDIS_PORT[,PORT...]
#
# (with Sentinel, the master's and the replica's ports: either may be the
# master; the connections to the Sentinels count as "other")
#
# prints a line per child of MASTER_PID:
#
#   LABEL time pid state fds redis upstream client listen gone other rss_kb
#
# state is "worker" or "shutting" (a worker of an older configuration,
# still finishing its requests after a reload), fds the open descriptors,
# then those descriptors by kind: TCP sockets to Redis, to the upstream,
# from clients (local port GATEWAY_PORT), listening ones, TCP sockets
# found in no table (closed while sampled), and the rest (files, pipes,
# the channel to the master, epoll and event fds, other sockets); rss_kb
# is VmRSS.

use strict;
use warnings;

use Time::HiRes qw(time);

my ($label, $master, $gw, $up, $redis) = @ARGV;
die "usage: sample.pl LABEL MASTER_PID GATEWAY_PORT UPSTREAM_PORT REDIS_PORT\n"
    unless defined $redis;
my %redis = map { $_ => 1 } split /,/, $redis;

# socket inode -> kind, from the TCP tables
sub tcp_kinds {
    my %kind;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        <$fh>;
        while (<$fh>) {
            my @f = split ' ';
            my ($lport) = $f[1] =~ /:([0-9A-F]+)$/;
            my ($rport) = $f[2] =~ /:([0-9A-F]+)$/;
            ($lport, $rport) = (hex $lport, hex $rport);
            $kind{$f[9]} = $f[3] eq '0A'     ? 'listen'
                         : $redis{$rport}    ? 'redis'
                         : $rport == $up     ? 'upstream'
                         : $lport == $gw     ? 'client'
                         :                     'other';
        }
        close $fh;
    }
    return \%kind;
}

# UNIX-domain sockets (the channel to the master) count as "other"
my %unix;
if (open my $ux, '<', '/proc/net/unix') {
    <$ux>;
    while (<$ux>) {
        my @f = split ' ';
        $unix{$f[6]} = 1 if defined $f[6];
    }
    close $ux;
}

opendir my $proc, '/proc' or die "sample.pl: /proc: $!\n";
my @pids = grep { /^\d+$/ } readdir $proc;
closedir $proc;

my $now = time;

for my $pid (sort { $a <=> $b } @pids) {
    open my $st, '<', "/proc/$pid/stat" or next;
    my $stat = <$st>;
    close $st;
    next unless defined $stat;
    my ($rest) = $stat =~ /\) (.*)$/ or next;
    my @s = split ' ', $rest;
    next unless $s[1] == $master;    # ppid

    open my $cf, '<', "/proc/$pid/cmdline" or next;
    my $cmd = do { local $/; <$cf> } // '';
    close $cf;
    $cmd =~ tr/\0/ /;
    next unless $cmd =~ /worker process/;
    my $state = $cmd =~ /shutting down/ ? 'shutting' : 'worker';

    # the descriptors first, then the tables: a socket closed in between
    # is not found there, and is read again once
    my (@links, $fds);
    opendir my $fd, "/proc/$pid/fd" or next;
    for my $f (readdir $fd) {
        next unless $f =~ /^\d+$/;
        my $l = readlink "/proc/$pid/fd/$f";
        push @links, $l if defined $l;
    }
    closedir $fd;
    $fds = @links;

    my $kind = tcp_kinds();
    my %n = (redis => 0, upstream => 0, client => 0, listen => 0,
             gone => 0, other => 0);
    my @unknown;
    for my $l (@links) {
        my ($inode) = $l =~ /^socket:\[(\d+)\]$/;
        if (!defined $inode || $unix{$inode}) {
            $n{other}++;
        } elsif ($kind->{$inode}) {
            $n{$kind->{$inode}}++;
        } else {
            push @unknown, $inode;
        }
    }
    if (@unknown) {
        $kind = tcp_kinds();
        $n{ $kind->{$_} // 'gone' }++ for @unknown;
    }

    my $rss = 0;
    if (open my $sf, '<', "/proc/$pid/status") {
        while (<$sf>) {
            if (/^VmRSS:\s+(\d+)/) { $rss = $1; last }
        }
        close $sf;
    }

    printf "%s\t%.6f\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", $label,
        $now, $pid, $state, $fds,
        @n{qw(redis upstream client listen gone other)}, $rss;
}
