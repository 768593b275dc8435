#!/usr/bin/perl
# A small HTTP/1.1 load client for bench/callgrind and bench/rss: exactly
# COUNT requests over CONNS keep-alive connections, one request in flight
# per connection, then it closes them and exits.  wrk cannot stop after a
# number of requests (it always runs for its duration).
#
#   drive.pl PORT COUNT CONNS TOKENS_FILE [START]
#
# TOKENS_FILE holds one JWT a line; the requests carry them in turn
# ("Authorization: Bearer ..."), starting at line START (0-based).  Every
# request also carries "X-Api-Key: acme".  Exits 1 on any response other
# than 200, on a connection closed early, or after 600 s.  Prints
# "requests=N seconds=S" on stdout.

use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $count, $conns, $file, $start) = @ARGV;
die "usage: drive.pl PORT COUNT CONNS TOKENS_FILE [START]\n"
    unless defined $file && $count =~ /^\d+$/ && $conns =~ /^\d+$/ && $conns > 0;
$start //= 0;

open my $fh, '<', $file or die "drive.pl: $file: $!\n";
chomp(my @tokens = grep { /\S/ } <$fh>);
close $fh;
die "drive.pl: no tokens in $file\n" unless @tokens;
my $next = $start % @tokens;

sub request {
    my $t = $tokens[$next];
    $next = ($next + 1) % @tokens;
    return "GET / HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
         . "Authorization: Bearer $t\r\nX-Api-Key: acme\r\n\r\n";
}

$conns = $count if $conns > $count;
my $sel = IO::Select->new;
my (%buf, $sent, $done);
$sent = $done = 0;
for (1 .. $conns) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 30)
        or die "drive.pl: connect 127.0.0.1:$port: $!\n";
    $s->autoflush(1);
    $buf{$s} = '';
    $sel->add($s);
    print {$s} request();
    $sent++;
}

my $t0 = time;
my $deadline = $t0 + 600;
while ($done < $count) {
    die "drive.pl: timed out after $done of $count responses\n" if time > $deadline;
    for my $s ($sel->can_read(5)) {
        my $n = sysread $s, $buf{$s}, 65536, length $buf{$s};
        die "drive.pl: connection closed after $done responses\n" unless $n;
        # whole responses in the buffer: headers, then Content-Length bytes
        while ($buf{$s} =~ /\A(HTTP\/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n)/s) {
            my ($hlen, $status, $h) = (length $1, $2, $3);
            my ($cl) = $h =~ /^content-length:\s*(\d+)/mi;
            die "drive.pl: a response without Content-Length\n" unless defined $cl;
            last if length $buf{$s} < $hlen + $cl;
            die "drive.pl: status $status (after $done responses): "
                . substr($buf{$s}, 0, $hlen + $cl) . "\n" if $status != 200;
            substr($buf{$s}, 0, $hlen + $cl) = '';
            $done++;
            if ($sent < $count) {
                print {$s} request();
                $sent++;
            }
        }
    }
}
printf "requests=%d seconds=%.3f\n", $done, time - $t0;
