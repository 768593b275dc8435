#!/usr/bin/perl
# The probe of bench/faults: serial HTTP/1.1 clients ("lanes") with
# keep-alive, one process each, that time every request and record what
# the gateway answered.
#
#   probe.pl HOST PORT OUTDIR STOPFILE LANE...
#
# LANE is NAME:TENANT:PACE_MS:TOKENFILE.  Each lane sends GET /probe/NAME/SEQ
# with its tenant's token, waits for the whole response, sleeps PACE_MS,
# and sends the next, until STOPFILE exists.  It writes OUTDIR/NAME.tsv, a
# line a request:
#
#   seq t_send t_recv ms status limit reject worker quota_used attempts err
#
# t_send and t_recv are Unix times (seconds, microsecond resolution), ms
# is t_recv - t_send in milliseconds: from the first byte written to the
# last byte read, including a reconnect.  limit is X-Limit-Status
# ($tenant_limit_status), worker X-Worker ($pid), quota_used is
# X-Quota-Limit minus X-Quota-Remaining ("-" without them).
#
# A keep-alive connection that the server closed (an nginx reload closes
# the idle ones of the old workers) fails the next request before any
# byte of the response: that request is sent again once on a new
# connection, and attempts says 2.  Anything else (a timeout, a second
# failure, a malformed response) is recorded with status 0 and err set.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use POSIX qw(_exit);

my ($HOST, $PORT, $OUT, $STOP, @LANES) = @ARGV;
die "usage: probe.pl HOST PORT OUTDIR STOPFILE NAME:TENANT:PACE_MS:TOKENFILE...\n"
    unless @LANES;

my $READ_TIMEOUT = 5;       # seconds: far beyond any expected answer

my @kids;
for my $spec (@LANES) {
    my ($name, $tenant, $pace, $tokfile) = split /:/, $spec, 4;
    die "probe.pl: bad lane $spec\n"
        unless defined $tokfile && $pace =~ /^\d+$/;
    open my $tf, '<', $tokfile or die "probe.pl: $tokfile: $!\n";
    my $token = <$tf>;
    close $tf;
    chomp $token;

    my $pid = fork() // die "probe.pl: fork: $!\n";
    if ($pid == 0) {
        lane($name, $tenant, $pace / 1000, $token);
        _exit(0);
    }
    push @kids, $pid;
}

$SIG{TERM} = $SIG{INT} = sub { kill 'TERM', @kids; exit 1 };

my $rc = 0;
for my $pid (@kids) {
    waitpid $pid, 0;
    $rc = 1 if $? != 0;
}
exit $rc;


sub lane {
    my ($name, $tenant, $pace, $token) = @_;

    $SIG{TERM} = sub { _exit(0) };

    open my $pf, '>', "$OUT/$name.pid" or die "probe.pl: $OUT/$name.pid: $!\n";
    print $pf "$$\n";
    close $pf;

    open my $log, '>', "$OUT/$name.tsv" or die "probe.pl: $OUT/$name.tsv: $!\n";
    select((select($log), $| = 1)[0]);

    my $sock;
    my $seq = 0;

    while (!-e $STOP) {
        $seq++;
        my $req = "GET /probe/$name/$seq HTTP/1.1\r\n"
                . "Host: gateway\r\n"
                . "Authorization: Bearer $token\r\n"
                . "\r\n";

        my $t0 = time;
        my ($res, $err, $attempts) = (undef, '', 0);

        for my $try (1, 2) {
            $attempts = $try;
            if (!$sock) {
                $sock = IO::Socket::INET->new(PeerAddr => $HOST,
                                              PeerPort => $PORT,
                                              Proto => 'tcp',
                                              Timeout => $READ_TIMEOUT);
                if (!$sock) {
                    $err = "connect: $!";
                    next;
                }
                setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
                $sock->blocking(1);
            }
            ($res, $err) = exchange($sock, $req);
            last if $res;
            # closed by the server before answering: a new connection
            close $sock;
            undef $sock;
            last if $err !~ /^(eof|reset|epipe) before response/;
        }

        my $t1 = time;

        if ($res && ($res->{close} || !$res->{keepalive})) {
            close $sock;
            undef $sock;
        }

        my $h = $res ? $res->{headers} : {};
        my $used = '-';
        if (defined $h->{'x-quota-limit'} && defined $h->{'x-quota-remaining'}) {
            $used = $h->{'x-quota-limit'} - $h->{'x-quota-remaining'};
        }
        $err =~ s/\s+/_/g;

        printf $log "%d\t%.6f\t%.6f\t%.3f\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n",
            $seq, $t0, $t1, ($t1 - $t0) * 1000,
            $res ? $res->{status} : 0,
            $h->{'x-limit-status'} || '-', $h->{'x-reject'} || '-',
            $h->{'x-worker'} || '-', $used, $attempts,
            $res ? '-' : ($err || 'unknown');

        sleep $pace if $pace > 0;
    }

    close $sock if $sock;
    close $log;
}


# one request and its response on a connected socket
sub exchange {
    my ($sock, $req) = @_;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $sock, $req, length($req) - $off, $off;
        if (!defined $n) {
            return (undef, 'epipe before response') if $!{EPIPE} || $!{ECONNRESET};
            return (undef, "write: $!");
        }
        $off += $n;
    }

    my $sel = IO::Select->new($sock);
    my $buf = '';
    my ($hlen, $status, %h, $need);

    while (1) {
        if (!$sel->can_read($READ_TIMEOUT)) {
            return (undef, 'timeout');
        }
        my $n = sysread $sock, $buf, 65536, length $buf;
        if (!defined $n) {
            return (undef, length $buf ? "reset after response start"
                                       : 'reset before response')
                if $!{ECONNRESET};
            return (undef, "read: $!");
        }
        if ($n == 0) {
            return (undef, length $buf ? 'eof in response'
                                       : 'eof before response');
        }

        if (!defined $hlen) {
            my $end = index $buf, "\r\n\r\n";
            next if $end < 0;
            $hlen = $end + 4;
            my @lines = split /\r\n/, substr($buf, 0, $end);
            my $first = shift @lines;
            ($status) = $first =~ m{^HTTP/1\.[01] (\d{3})}
                or return (undef, 'bad status line');
            for (@lines) {
                my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
                $h{lc $k} = $v;
            }
            return (undef, 'no content-length')
                unless defined $h{'content-length'};
            $need = $hlen + $h{'content-length'};
        }

        last if length $buf >= $need;
    }

    my $conn = lc($h{connection} || '');
    return ({ status => $status, headers => \%h,
              close => $conn eq 'close', keepalive => $conn ne 'close' }, '');
}
