#!/usr/bin/perl
# One Redis command for bench/faults, timed.
#
#   redis-cmd.pl PORT ARG...
#
# connects to 127.0.0.1:PORT first, then sends the command and prints
# "T_SEND T_REPLY REPLY": the Unix times (microseconds) just before the
# write and of the reply, and the reply's first line.  For CLIENT PAUSE,
# whose pause starts in between, well within a millisecond on loopback.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, @args) = @ARGV;
die "usage: redis-cmd.pl PORT ARG...\n" unless @args;

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp', Timeout => 5)
    or die "redis-cmd.pl: connect: $!\n";

my $cmd = '*' . @args . "\r\n" . join '', map { '$' . length($_) . "\r\n$_\r\n" } @args;

my $t0 = time;
syswrite $s, $cmd or die "redis-cmd.pl: write: $!\n";
my $buf = '';
while ($buf !~ /\r\n/) {
    IO::Select->new($s)->can_read(30) or die "redis-cmd.pl: no reply\n";
    sysread $s, $buf, 4096, length $buf or die "redis-cmd.pl: read: $!\n";
}
my $t1 = time;
my ($line) = $buf =~ /^(.*?)\r\n/;
printf "%.6f %.6f %s\n", $t0, $t1, $line;
