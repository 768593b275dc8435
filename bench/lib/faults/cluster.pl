#!/usr/bin/perl
# Redis Cluster chores for bench/faults' "cluster" run.
#
#   cluster.pl owner PORT KEY          the port of the master serving KEY
#   cluster.pl replica PORT MASTER     the port of a replica of that master
#   cluster.pl masters PORT            the masters' ports, one a line
#   cluster.pl settled PORT...         exit 0 when every node says
#                                      cluster_state:ok, sees three masters
#                                      with a replica each, every link up,
#                                      each replica in sync; else 1 and why
#   cluster.pl move PORT SLOT TO PAUSE_MS
#                                      moves SLOT to the master on port TO,
#                                      the documented way: SETSLOT IMPORTING
#                                      on TO, MIGRATING on the owner, the
#                                      keys MIGRATEd one at a time with
#                                      PAUSE_MS between them, SETSLOT NODE
#                                      on every master; prints
#                                        T fault   (IMPORTING sent)
#                                        T back    (the last SETSLOT NODE)
#                                        T keys N
#
# PORT is any live node (127.0.0.1).  Unix times in microseconds.

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my %conn;

sub cmd {
    my ($port, @a) = @_;
    my $s = $conn{$port} ||= IO::Socket::INET->new(
        PeerAddr => "127.0.0.1:$port", Timeout => 5)
        or die "cluster.pl: connect to $port: $!\n";
    print {$s} '*' . @a . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @a;
    return reply($s);
}

sub reply {
    my ($s) = @_;
    my $line = <$s> // die "cluster.pl: connection closed\n";
    $line =~ s/\r\n\z//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    die "cluster.pl: redis: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my $b = '';
        while (length $b < $v + 2) {
            read($s, $b, $v + 2 - length $b, length $b) or die "cluster.pl: short read\n";
        }
        return substr $b, 0, $v;
    }
    return [ map { reply($s) } 1 .. $v ] if $t eq '*';
    die "cluster.pl: reply $line\n";
}

# CLUSTER NODES as [ { id, port, flags{}, master, link, slots [[lo,hi]] } ]
sub nodes {
    my ($port) = @_;
    my @n;
    for (split /\n/, cmd($port, 'CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @sl) = split ' ';
        my ($p) = $addr =~ /:(\d+)/;
        push @n, { id => $id, port => $p, flags => { map { $_ => 1 } split /,/, $flags },
                   master => $master, link => $link,
                   slots => [ map { /^(\d+)(?:-(\d+))?$/ ? [$1, $2 // $1] : () } @sl ] };
    }
    return @n;
}

sub live_master { $_[0]{flags}{master} && !$_[0]{flags}{fail} && !$_[0]{flags}{'fail?'} }

sub owner {
    my ($port, $slot) = @_;
    for my $n (grep { live_master($_) } nodes($port)) {
        return $n for grep { $slot >= $_->[0] && $slot <= $_->[1] } @{ $n->{slots} };
    }
    die "cluster.pl: no master serves slot $slot\n";
}

my ($what, $port, @rest) = @ARGV;
die "usage: cluster.pl owner|replica|masters|settled|move PORT ...\n" unless $port;

if ($what eq 'owner') {
    print owner($port, cmd($port, 'CLUSTER', 'KEYSLOT', $rest[0]))->{port}, "\n";
} elsif ($what eq 'replica') {
    my @n = nodes($port);
    my ($m) = grep { $_->{port} == $rest[0] } @n or die "cluster.pl: no node $rest[0]\n";
    my ($r) = grep { $_->{master} eq $m->{id} && !$_->{flags}{fail} } @n
        or die "cluster.pl: $rest[0] has no replica\n";
    print "$r->{port}\n";
} elsif ($what eq 'masters') {
    print "$_->{port}\n" for sort { $a->{port} <=> $b->{port} }
                             grep { live_master($_) && @{ $_->{slots} } } nodes($port);
} elsif ($what eq 'settled') {
    for my $p ($port, @rest) {
        my $why = eval {
            my ($st) = cmd($p, 'CLUSTER', 'INFO') =~ /^cluster_state:(\w+)/m;
            return "$p: cluster_state:$st" unless $st eq 'ok';
            my @n = nodes($p);
            my @m = grep { live_master($_) && @{ $_->{slots} } } @n;
            return "$p sees " . @m . ' masters' unless @m == 3;
            for my $o (@n) {
                return "$p sees $o->{port} " . join(',', sort keys %{ $o->{flags} })
                    . " $o->{link}"
                    if $o->{flags}{fail} || $o->{flags}{'fail?'} || $o->{link} ne 'connected';
            }
            for my $m (@m) {
                return "$p sees no replica of $m->{port}"
                    unless grep { $_->{master} eq $m->{id} } @n;
            }
            my $info = cmd($p, 'INFO', 'replication');
            return "$p: replica not in sync"
                if $info =~ /^role:slave/m && $info !~ /^master_link_status:up/m;
            return undef;
        } // $@;
        if ($why) { print "$why\n"; exit 1 }
    }
} elsif ($what eq 'move') {
    my ($slot, $to, $pause) = @rest;
    my $from = owner($port, $slot);
    my @n = nodes($port);
    my ($dst) = grep { $_->{port} == $to } @n or die "cluster.pl: no node $to\n";
    die "cluster.pl: slot $slot is already on $to\n" if $from->{port} == $to;
    printf "%.6f fault\n", time;
    cmd($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $from->{id});
    cmd($from->{port}, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dst->{id});
    my $moved = 0;
    while (1) {
        my $keys = cmd($from->{port}, 'CLUSTER', 'GETKEYSINSLOT', $slot, 1);
        last unless @$keys;
        cmd($from->{port}, 'MIGRATE', '127.0.0.1', $to, '', 0, 5000, 'KEYS', @$keys);
        $moved += @$keys;
        sleep $pause / 1000;
    }
    cmd($to, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
    cmd($from->{port}, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
    for my $m (grep { live_master($_) && $_->{port} != $to && $_->{port} != $from->{port} } @n) {
        eval { cmd($m->{port}, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id}) };
    }
    printf "%.6f back\n", time;
    printf "%.6f keys %d\n", time, $moved;
} else {
    die "cluster.pl: unknown \"$what\"\n";
}
exit 0;
