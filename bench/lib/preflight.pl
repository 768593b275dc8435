#!/usr/bin/perl
# Pre-flight for bench/run, before any load: each gateway answers 200 with
# its token(s) and passes the request on; a tenant_jwt gateway also sets
# the X-Tenant-* headers from the token (tenant and user as its org_id and
# sub claims say), drops spoofed ones, and refuses a request without a
# token (401).  Needs the upstream's /headers echo.
#
#   preflight.pl NAME PORT MODE TOKENS_FILE [NAME PORT MODE FILE ...]
#
# MODE is plain, jwt, or redis:REDIS_PORT for a gateway with tenant_redis
# and tenant_limit on, and may end in ",lua:REDIS_PORT" for the Lua gateway
# (lib/lua/benchgw.lua).  For redis:, in addition:
#   * the response carries the plan's limit headers (RateLimit-Limit,
#     X-Quota-Limit): Redis gave the verdict, the plan is the bench's;
#   * with MONITOR on that Redis, a few requests are sent, and exactly one
#     command per request must come from nginx, an EVALSHA; the commands
#     the script runs inside Redis show up as coming from "lua".
#     One line per such gateway goes to stdout:
#       NAME<TAB>requests<TAB>evalsha<TAB>other top-level<TAB>CMD=n,CMD=n...
#     (the last field: commands inside the script, per request).
#
# For lua:, the response carries RateLimit-Limit: LUA_LIMIT, and MONITOR
# must see exactly one INCR and one EXPIRE from nginx per request, nothing
# else (the line on stdout: NAME, requests, INCR+EXPIRE, other, and
# "expire=1.00,incr=1.00").  Every request carries "X-Api-Key: acme".
#
# RATE_LIMIT and QUOTA_LIMIT (environment) are the values the limit headers
# must show.

use strict;
use warnings;
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use MIME::Base64 qw(decode_base64url);
use Time::HiRes qw(time);

my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
my $bad = 0;

sub fail { print STDERR "pre-flight: $_[0]\n"; $bad++ }

sub claims_of {
    my ($t) = @_;
    my (undef, $p) = split /\./, $t;
    my $c = eval { JSON::PP->new->decode(decode_base64url($p // '')) };
    return ref $c eq 'HASH' ? $c : {};
}

# MONITOR on Redis while COUNT requests go through the gateway: returns
# ({ command => calls from nginx }, { command => calls inside the script })
sub monitor {
    my ($name, $rport, $url, $tokens, $count) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport", Timeout => 3)
        or do { fail("$name: cannot connect to redis on $rport: $!"); return };
    print {$s} "*1\r\n\$7\r\nMONITOR\r\n";
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $read = sub {        # what arrives until $quiet seconds of silence
        my ($quiet) = @_;
        while ($sel->can_read($quiet)) {
            my $n = sysread $s, $buf, 65536, length $buf;
            last unless $n;
        }
    };
    $read->(0.3);
    unless ($buf =~ s/\A\+OK\r\n//) {
        fail("$name: MONITOR refused: $buf");
        return;
    }
    for my $i (0 .. $count - 1) {
        my $t = $tokens->[$i % @$tokens];
        my $r = $http->get("$url/", { headers => { 'Authorization' => "Bearer $t",
                                                   'X-Api-Key' => 'acme' } });
        fail("$name: GET / got $r->{status} during MONITOR") if $r->{status} != 200;
    }
    $read->(0.5);
    close $s;

    my (%top, %inside);
    for my $l (split /\r\n/, $buf) {
        next unless $l =~ /^\+[\d.]+ \[\d+ (\S+)\] "([^"]+)"/;
        my ($from, $cmd) = ($1, lc $2);
        if ($from eq 'lua') {
            $inside{$cmd}++;
        } else {
            $top{$cmd}++;
        }
    }
    return (\%top, \%inside);
}

while (@ARGV) {
    my ($name, $port, $mode, $file) = splice @ARGV, 0, 4;
    die "preflight.pl: bad arguments\n" unless defined $file;
    my ($rport) = $mode =~ /(?:^|,)redis:(\d+)/;
    my ($lport) = $mode =~ /(?:^|,)lua:(\d+)/;
    my $jwt = $mode =~ /^(?:jwt|redis:)/;
    open my $fh, '<', $file or die "$file: $!\n";
    chomp(my @tokens = grep { /\S/ } <$fh>);
    close $fh;

    my $url = "http://127.0.0.1:$port";

    for my $t (@tokens) {
        my $r = $http->get("$url/headers", { headers => {
            'Authorization' => "Bearer $t",
            'X-Tenant-ID'   => 'evil',
            'X-Tenant-Role' => 'owner',
            'X-Api-Key'     => 'acme',
        } });
        if ($r->{status} != 200) {
            fail("$name: token got $r->{status} $r->{reason}: $r->{content}");
            next;
        }
        if (defined $lport) {
            my $rl = $r->{headers}{'ratelimit-limit'} // '';
            fail("$name: no RateLimit-Limit from the Lua gateway's Redis count (\"$rl\")")
                unless $rl eq ($ENV{LUA_LIMIT} // '');
        }
        next unless $jwt;
        my $b = $r->{content};
        my $c = claims_of($t);
        my ($id, $user) = ($c->{org_id} // '?', $c->{sub} // '?');
        fail("$name: upstream saw no tenant headers, or not $id/$user: $b")
            unless $b =~ /^id=\Q$id\E user=\Q$user\E role=admin plan=pro permissions=\S+/;
        fail("$name: a spoofed header reached the upstream: $b")
            if $b =~ /evil|owner/;
        if (defined $rport) {
            my $h = $r->{headers};
            my ($rl, $ql) = ($h->{'ratelimit-limit'} // '', $h->{'x-quota-limit'} // '');
            fail("$name: no limit headers from Redis's verdict (RateLimit-Limit "
                 . "\"$rl\", X-Quota-Limit \"$ql\")")
                unless $rl eq ($ENV{RATE_LIMIT} // '') && $ql eq ($ENV{QUOTA_LIMIT} // '');
        }
    }

    my $r = $http->get("$url/", { headers => {
        'Authorization' => "Bearer $tokens[0]", 'X-Api-Key' => 'acme' } });
    fail("$name: GET / got $r->{status}, not 200 \"ok\"")
        unless $r->{status} == 200 && $r->{content} eq "ok\n";

    if ($jwt) {
        $r = $http->get("$url/");
        fail("$name: no token got $r->{status}, not 401")
            unless $r->{status} == 401;
    }

    if (defined $lport) {
        my $n = 10;
        my ($top) = monitor($name, $lport, $url, \@tokens, $n);
        next unless defined $top;
        my ($incr, $expire) = (delete $top->{incr} // 0, delete $top->{expire} // 0);
        my $other = 0;
        $other += $_ for values %$top;
        print STDERR "pre-flight: $name: other command from nginx: $_ ($top->{$_})\n" for keys %$top;
        fail("$name: MONITOR saw $incr INCR, $expire EXPIRE and $other other commands "
             . "from nginx for $n requests, not $n, $n and 0")
            unless $incr == $n && $expire == $n && $other == 0;
        printf "%s\t%d\t%d\t%d\texpire=%.2f,incr=%.2f\n", $name, $n, $incr + $expire,
            $other, $expire / $n, $incr / $n;
    } elsif (defined $rport) {
        my $n = 10;
        my ($top, $inside) = monitor($name, $rport, $url, \@tokens, $n);
        next unless defined $top;
        my $evalsha = delete $top->{evalsha} // 0;
        my $other = 0;
        $other += $_ for values %$top;
        print STDERR "pre-flight: $name: top-level command from nginx: $_ ($top->{$_})\n" for keys %$top;
        fail("$name: MONITOR saw $evalsha EVALSHA and $other other commands "
             . "from nginx for $n requests, not $n and 0")
            unless $evalsha == $n && $other == 0;
        printf "%s\t%d\t%d\t%d\t%s\n", $name, $n, $evalsha, $other,
            join(',', map { sprintf '%s=%.2f', $_, $inside->{$_} / $n }
                      sort keys %$inside);
    }
}

exit($bad ? 1 : 0);
