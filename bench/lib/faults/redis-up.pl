#!/usr/bin/perl
# Starts redis-server for bench/faults and says when it answered.
#
#   redis-up.pl PORT -- REDIS-SERVER-COMMAND...
#
# runs the command (which daemonizes), then polls 127.0.0.1:PORT every
# millisecond until a PING gets +PONG, and prints "T_LAUNCH T_PONG": the
# Unix times (microseconds) just before the command and of the first
# PONG.  A redis-cli per poll would cost tens of milliseconds on a loaded
# machine, and bench/faults measures the gateway's recovery from T_PONG.
# Exits 1 if Redis has not answered within 10 seconds.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($port, $sep, @cmd) = @ARGV;
die "usage: redis-up.pl PORT -- COMMAND...\n"
    unless defined $sep && $sep eq '--' && @cmd;

my $t_launch = time;
system(@cmd) == 0 or die "redis-up.pl: $cmd[0] failed\n";

while (time - $t_launch < 10) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    if ($s) {
        syswrite $s, "PING\r\n";
        my $buf = '';
        if (IO::Select->new($s)->can_read(1)) {
            sysread $s, $buf, 64;
        }
        my $t = time;
        close $s;
        if ($buf =~ /^\+PONG/) {
            printf "%.6f %.6f\n", $t_launch, $t;
            exit 0;
        }
    }
    sleep 0.001;
}

die "redis-up.pl: no PONG on port $port within 10 s\n";
