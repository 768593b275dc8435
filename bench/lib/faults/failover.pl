#!/usr/bin/perl
# One Sentinel failover for bench/faults, timed.
#
#   failover.pl SENTINEL_PORT MASTER_NAME REPLICA_PORT GATEWAY_MASTER_PID LIMIT_S
#   failover.pl kill:PID - REPLICA_PORT GATEWAY_MASTER_PID LIMIT_S
#
# (the second form, for Redis Cluster: the master PID gets SIGKILL and
# the cluster promotes its replica by itself; the rest is the same)
#
# Sends SENTINEL FAILOVER MASTER_NAME to the Sentinel (again every 200 ms
# while it answers -INPROG or -NOGOODSLAVE, for up to LIMIT_S), then polls
# the replica that is to be promoted every millisecond until ROLE says
# master, then its CLIENT LIST every 2 ms until each worker of the gateway
# (the children of GATEWAY_MASTER_PID that are "worker process", not
# shutting down) has a connection there whose last command is EVALSHA or
# EVAL: its first decision on the new master.  A client's address is
# mapped to its worker through /proc/net/tcp and the workers' descriptors.
# Prints, one a line, with Unix times (microseconds):
#
#   T fault              the SENTINEL FAILOVER that was accepted
#   T back               the replica answered ROLE "master"
#   T resume PID         worker PID's first EVALSHA/EVAL there
#   T retries N          how many SENTINEL FAILOVER were refused first
#
# Exits 1 if the failover was not accepted or the promotion not seen
# within LIMIT_S; workers that never resumed within LIMIT_S after the
# promotion get no "resume" line.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($SPORT, $NAME, $RPORT, $GWM, $LIMIT) = @ARGV;
die "usage: failover.pl SENTINEL_PORT NAME REPLICA_PORT GW_MASTER_PID LIMIT_S\n"
    unless defined $LIMIT;

sub conn {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_[0],
                          Proto => 'tcp', Timeout => 5)
        or die "failover.pl: connect to $_[0]: $!\n";
}

# a whole RESP reply, as text (bulk strings and arrays, enough here)
sub reply {
    my ($s) = @_;
    my $buf = '';
    while (1) {
        my $need = complete($buf);
        return $buf if defined $need;
        IO::Select->new($s)->can_read(5) or die "failover.pl: no reply\n";
        sysread $s, $buf, 65536, length $buf or die "failover.pl: read: $!\n";
    }
}

sub complete {    # is buf one whole reply? returns its length or undef
    my ($b) = @_;
    my $pos = 0;
    my $rec;
    $rec = sub {
        my $e = index $b, "\r\n", $pos;
        return 0 if $e < 0;
        my $t = substr $b, $pos, 1;
        my $v = substr $b, $pos + 1, $e - $pos - 1;
        $pos = $e + 2;
        if ($t eq '$') {
            return 1 if $v < 0;
            return 0 if length($b) < $pos + $v + 2;
            $pos += $v + 2;
            return 1;
        }
        if ($t eq '*') {
            for (1 .. ($v < 0 ? 0 : $v)) { $rec->() or return 0 }
            return 1;
        }
        return 1;
    };
    return $rec->() ? $pos : undef;
}

sub cmd {
    my ($s, @a) = @_;
    syswrite $s, '*' . @a . "\r\n" . join '', map { '$' . length($_) . "\r\n$_\r\n" } @a;
    return reply($s);
}

# to the replica: the promotion closes its clients' connections (the
# Sentinel sends CLIENT KILL TYPE normal with the REPLICAOF NO ONE), so
# once, on a new connection, again
my $rep;
sub rcmd {
    my @a = @_;
    my $r = eval { cmd($rep, @a) };
    return $r if defined $r;
    $rep = conn($RPORT);
    return cmd($rep, @a);
}

my ($KILL) = $SPORT =~ /^kill:(\d+)$/;
my $sen = $KILL ? undef : conn($SPORT);
$rep = conn($RPORT);

my ($t_fault, $retries) = (undef, 0);
my $t_end = time + $LIMIT;
if ($KILL) {
    $t_fault = time;
    kill 'KILL', $KILL or die "failover.pl: kill $KILL: $!\n";
}
while (!$t_fault && time < $t_end) {
    my $t = time;
    my $r = cmd($sen, 'SENTINEL', 'FAILOVER', $NAME);
    if ($r =~ /^\+OK/) { $t_fault = $t; last }
    die "failover.pl: SENTINEL FAILOVER: $r" unless $r =~ /^-(INPROG|NOGOODSLAVE)/;
    $retries++;
    sleep 0.2;
}
die "failover.pl: SENTINEL FAILOVER not accepted within ${LIMIT}s\n" unless $t_fault;
printf "%.6f fault\n", $t_fault;
printf "%.6f retries %d\n", $t_fault, $retries;

my $t_back;
$t_end = time + $LIMIT;
while (time < $t_end) {
    my $r = rcmd('ROLE');
    if ($r =~ /^\*\d+\r\n\$6\r\nmaster\r\n/) { $t_back = time; last }
    sleep 0.001;
}
die "failover.pl: no promotion of port $RPORT within ${LIMIT}s\n" unless $t_back;
printf "%.6f back\n", $t_back;

sub workers {
    my @w;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $l = <$st> // '';
        close $st;
        my ($rest) = $l =~ /\) (.*)$/ or next;
        my @s = split ' ', $rest;
        next unless $s[1] == $GWM;
        open my $cf, '<', "/proc/$pid/cmdline" or next;
        my $c = do { local $/; <$cf> } // '';
        close $cf;
        push @w, $pid if $c =~ /worker process/ && $c !~ /shutting down/;
    }
    closedir $d;
    return @w;
}

sub owner {       # local port of a client of RPORT -> worker pid
    my ($lport, @pids) = @_;
    my $inode;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        <$fh>;
        while (<$fh>) {
            my @f = split ' ';
            my ($lp) = $f[1] =~ /:([0-9A-F]+)$/;
            my ($rp) = $f[2] =~ /:([0-9A-F]+)$/;
            if (hex $lp == $lport && hex $rp == $RPORT) { $inode = $f[9]; last }
        }
        close $fh;
        last if defined $inode;
    }
    return undef unless defined $inode;
    for my $pid (@pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        for my $f (readdir $d) {
            my $l = readlink "/proc/$pid/fd/$f" // next;
            return $pid if $l eq "socket:[$inode]";
        }
        closedir $d;
    }
    return undef;
}

my @pids = workers();
my %resumed;
my %seen_addr;
$t_end = $t_back + $LIMIT;
while (time < $t_end && keys(%resumed) < @pids) {
    my $t = time;
    my $r = rcmd('CLIENT', 'LIST', 'TYPE', 'normal');
    for my $line (split /\n/, $r) {
        my ($port) = $line =~ /\baddr=127\.0\.0\.1:(\d+)/ or next;
        $line =~ /\bcmd=(evalsha|eval)\b/ or next;
        next if $seen_addr{$port};
        my $pid = owner($port, @pids) // next;
        $seen_addr{$port} = 1;
        $resumed{$pid} //= $t;
    }
    sleep 0.002;
}
printf "%.6f resume %d\n", $resumed{$_}, $_ for sort { $resumed{$a} <=> $resumed{$b} } keys %resumed;
exit 0;
