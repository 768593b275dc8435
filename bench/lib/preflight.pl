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
# MODE may also end in ",lease:TTL_MS:TOKEN_FILE" for a gateway with
# tenant_limit_lease on: the checks of redis: above but MONITOR's, and
# instead, with the token in TOKEN_FILE (a tenant new to Redis, so that its
# counters start at 0), TTL_MS + 300 ms after the checks above (their
# leases given back by then), LEASE_CHECK_REQUESTS (100) requests one after
# the other with MONITOR on, which stays on for TTL_MS + 500 ms after the last
# answer so that the give-backs (mode "G", EVALSHA too) are seen:
#   * at most one EVALSHA per 16 requests from nginx (grants, exact
#     decisions while a grant is pending, give-backs), nothing else;
#   * then the tenant's quota counter, its meter counter, and its monthly
#     usage's "requests" and meter field (the keys the grant named) each
#     equal the requests sent: what the leases did not use was given back.
#   The line on stdout has a sixth field: "grants=G,exact=E,givebacks=B,
#   quota=Q,meter=M,usage=U,usage_meter=UM".
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

# MONITOR on Redis while COUNT requests go through the gateway, and TAIL
# seconds more (0.5 unless given) after the last answer: returns
# ({ command => calls from nginx }, { command => calls inside the script },
#  [ [ argument, ... ] for each command from nginx ])
sub monitor {
    my ($name, $rport, $url, $tokens, $count, $tail) = @_;
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
    my $until = time + ($tail // 0.5);
    while ((my $left = $until - time) > 0) {
        $read->($left);
    }
    $read->(0.2);
    close $s;

    my (%top, %inside, @cmds);
    for my $l (split /\r\n/, $buf) {
        next unless $l =~ /^\+[\d.]+ \[\d+ (\S+)\] ("[^"]+".*)$/;
        my ($from, $args) = ($1, $2);
        my @a = map { s/\\(.)/$1/gr } $args =~ /"((?:[^"\\]|\\.)*)"/g;
        my $cmd = lc $a[0];
        if ($from eq 'lua') {
            $inside{$cmd}++;
        } else {
            $top{$cmd}++;
            push @cmds, \@a;
        }
    }
    return (\%top, \%inside, \@cmds);
}

# one command to Redis, its reply: an integer or a bulk string (undef for
# nil); dies on an error or anything else
sub redis_cmd {
    my ($rport, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport", Timeout => 3)
        or die "cannot connect to redis on $rport: $!\n";
    print {$s} '*' . @args . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @args;
    my $l = <$s> // die "redis: no reply to @args\n";
    $l =~ s/\r\n\z//;
    my $v;
    if ($l =~ /^:(-?\d+)$/) {
        $v = $1;
    } elsif ($l =~ /^\$(-?\d+)$/) {
        if ($1 >= 0) {
            read $s, $v, $1 + 2;
            $v = substr $v, 0, $1;
        }
    } else {
        die "redis: @args: $l\n";
    }
    close $s;
    return $v;
}

# a lease gateway: N requests of a tenant new to Redis under MONITOR, then
# the counters once the leases have ended (see the head of this file)
sub lease_check {
    my ($name, $rport, $url, $token, $ttl_ms) = @_;
    my $n = $ENV{LEASE_CHECK_REQUESTS} || 100;
    # the leases of the checks above (other tenants) end and are given back
    # first, so that MONITOR sees this tenant's commands only
    select undef, undef, undef, $ttl_ms / 1000 + 0.3;
    my ($top, $inside, $cmds) = monitor($name, $rport, $url, [$token], $n,
                                        $ttl_ms / 1000 + 0.5);
    return unless defined $top;
    my ($grants, $exact, $back, %keys) = (0, 0, 0);
    for my $a (@$cmds) {
        next unless lc $a->[0] eq 'evalsha' && defined $a->[2] && $a->[2] =~ /^\d+$/;
        my @k = @$a[3 .. 2 + $a->[2]];
        my @v = @$a[3 + $a->[2] .. $#$a];
        if ($v[0] eq 'G') {
            $back++;
        } elsif (@v >= 18) {
            $grants++;
            # KEYS[4] quota, KEYS[5] meter, ARGV[6] the meter's field,
            # ARGV[16] the usage hash's month (see the script's header)
            %keys = (quota => $k[3], meter => $k[4], usage => "$k[0]:usage:$v[15]",
                     field => $v[5]);
        } else {
            $exact++;
        }
    }
    my $evalsha = delete $top->{evalsha} // 0;
    my $other = 0;
    $other += $_ for values %$top;
    print STDERR "pre-flight: $name: top-level command from nginx: $_ ($top->{$_})\n" for keys %$top;
    fail("$name: MONITOR saw $evalsha EVALSHA ($grants grants, $exact exact decisions, "
         . "$back give-backs) and $other other commands from nginx for $n requests "
         . "of one tenant, not at most " . int($n / 16) . " and 0")
        unless $evalsha <= int($n / 16) && $other == 0;
    fail("$name: MONITOR saw no lease granted (no EVALSHA with ARGV[18])")
        unless $grants;
    my %got = (quota => '-', meter => '-', usage => '-', usage_meter => '-');
    if (%keys) {
        eval {
            %got = (quota => redis_cmd($rport, 'GET', $keys{quota}),
                    meter => redis_cmd($rport, 'GET', $keys{meter}),
                    usage => redis_cmd($rport, 'HGET', $keys{usage}, 'requests'),
                    usage_meter => $keys{field} eq '' ? '-'
                        : redis_cmd($rport, 'HGET', $keys{usage}, $keys{field}));
            1;
        } or fail("$name: reading the counters: $@");
        for my $k (qw(quota meter usage usage_meter)) {
            $got{$k} //= 'none';
            fail("$name: after the leases ended, $k is $got{$k}, not the $n requests sent "
                 . "(keys $keys{quota} $keys{meter} $keys{usage} $keys{field})")
                unless $got{$k} eq $n;
        }
    }
    printf "%s\t%d\t%d\t%d\t%s\t%s\n", $name, $n, $evalsha, $other,
        join(',', map { sprintf '%s=%.2f', $_, $inside->{$_} / $n } sort keys %$inside),
        join(',', "grants=$grants", "exact=$exact", "givebacks=$back",
             map { "$_=$got{$_}" } qw(quota meter usage usage_meter));
}

while (@ARGV) {
    my ($name, $port, $mode, $file) = splice @ARGV, 0, 4;
    die "preflight.pl: bad arguments\n" unless defined $file;
    my ($rport) = $mode =~ /(?:^|,)redis:(\d+)/;
    my ($lport) = $mode =~ /(?:^|,)lua:(\d+)/;
    my ($lease_ttl, $lease_file) = $mode =~ /(?:^|,)lease:(\d+):(.+)$/;
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
    } elsif (defined $rport && defined $lease_ttl) {
        open my $lf, '<', $lease_file or die "$lease_file: $!\n";
        chomp(my $lt = <$lf> // '');
        close $lf;
        lease_check($name, $rport, $url, $lt, $lease_ttl);
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
