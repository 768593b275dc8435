#!/usr/bin/perl
#
# tenant_limit_lease: a worker admits requests from units counted in Redis
# ahead of them, and gives back the ones it did not use.  What is checked
# here is what leases promise, not their speed: never more admitted than
# the exact mode would, counters equal to the admitted requests once the
# leases have ended, the registry's word heard within ttl, the held units
# and then the failure policy when Redis goes away, and a location without
# the directive deciding each request in Redis as before.
#
# A plain Test::More script, since leases live across requests in the
# workers: one redis-server (TenantRedis), one nginx with two workers
# (TenantNginx), forked keep-alive clients for concurrency.  Bounded by
# an alarm; everything started here is stopped in END.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantRedis;    # starts redis-server, sets $ENV{TEST_NGINX_REDIS_PORT}
use TenantNginx;

$SIG{ALRM} = sub { die "700-leases.t: time limit (120 s) reached\n" };
alarm 120;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $RPORT = TenantRedis::redis_port();

sub gateway {
    my ($path, $lease, %o) = @_;
    my $failure = $o{failure} || 'allow';
    my $meter = $o{meter} ? "tenant_meter $o{meter};" : '';
    return <<"_EOC_";
        location $path {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_limit_lease $lease;
            $meter
            tenant_redis_failure $failure;
            add_header X-Limit-Status \$tenant_limit_status always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
_EOC_
}

my $n = nginx_start('lease', workers => 2, redis => <<"_EOC_",
    tenant_redis 127.0.0.1:$RPORT timeout=2s;
    tenant_plan q1000 quota=1000/day;
    tenant_plan r10 rate=10r/s burst=20 quota=1000000/day;
    tenant_plan mq quota=300/day meter=gen:100/day;
_EOC_
    server => gateway('/lease', 'on max=64 ttl=200ms')
            . gateway('/gen', 'on max=64 ttl=200ms', meter => 'gen')
            . gateway('/second', 'on max=64 ttl=1s')
            . gateway('/long', 'on max=64 ttl=30s')
            . gateway('/long-deny', 'on max=64 ttl=30s', failure => 'deny')
            . gateway('/exact', 'off')
            . <<"_EOC_");
        location /redir {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_limit_lease on max=64 ttl=200ms;
            proxy_intercept_errors on;
            error_page 401 = /redir-meter;
            proxy_pass http://backend/check;
        }
        location /redir-meter {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_meter gen;
            tenant_limit_lease on max=64 ttl=200ms;
            proxy_pass http://backend;
        }
_EOC_

my $DAY = strftime('%Y-%m-%d', gmtime);

sub evalsha_calls {
    my ($line) = grep { /^cmdstat_evalsha:/ } split /\r?\n/,
                 TenantRedis::redis('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

# $clients forked keep-alive clients, each sending $each requests as
# fast as it can: the statuses, and when the first was sent and the last
# answered
sub burst {
    my ($tok, $path, $clients, $each, $pace) = @_;
    my $dir = "$TenantNginx::TMP/burst" . int(rand 1e9);
    mkdir $dir or die "$dir: $!";
    my @pids;
    for my $c (1 .. $clients) {
        push @pids, spawn_client("$dir/$c", sub {
            my ($out) = @_;
            my $ua = TenantNginx::ua(1);
            for (1 .. $each) {
                my $r = api($n, $tok, path => $path, ua => $ua);
                printf {$out} "%.4f %.4f %s\n", $r->{at} - $r->{took},
                    $r->{at}, $r->{status};
                sleep $pace if $pace;
            }
        });
    }
    wait_kids(@pids);
    my ($first, $last, %status) = (9e9, 0);
    for my $c (1 .. $clients) {
        for my $l (result_lines("$dir/$c")) {
            die "a client died: @$l\n" if $l->[0] eq 'DIED';
            $first = $l->[0] if $l->[0] < $first;
            $last = $l->[1] if $l->[1] > $last;
            $status{$l->[2]}++;
        }
    }
    return { first => $first, last => $last, status => \%status };
}

# ---- quota: exactly the quota admitted, the counter equal to it

{
    my $tok = token('quota', 'q1000');
    my ($admitted, $waves) = (0, 0);

    # the first wave asks for three times the quota at once; later ones
    # use the units the leases of the wave before gave back
    my $b = burst($tok, '/lease', 6, 500);
    $admitted += $b->{status}{200} || 0;
    my $others = join ',', grep { $_ != 200 && $_ != 429 } keys %{ $b->{status} };
    is($others, '', 'quota: only 200 and 429 answered');

    while ($waves++ < 20) {
        sleep 0.5;    # > ttl: every lease has ended and given back
        my $w = burst($tok, '/lease', 2, 40);
        last unless $w->{status}{200};
        $admitted += $w->{status}{200};
    }
    sleep 0.5;

    is($admitted, 1000, 'quota: exactly 1000 requests admitted');
    is(TenantRedis::redis('GET', "tenant:{quota}:quota:$DAY"), 1000,
       'quota: the counter is exactly 1000 after the leases ended');
    is(TenantRedis::redis('HGET', 'tenant:{quota}:usage:' . substr($DAY, 0, 7),
                          'requests'),
       1000, 'quota: the usage counts the 1000 admitted requests');
}

# ---- rate: never more than the exact GCRA admits in the window

{
    my $tok = token('rate', 'r10');
    my $b = burst($tok, '/lease', 4, 60, 0.03);
    my $ok = $b->{status}{200} || 0;

    # burst + 1 at once, then one each emission interval (100 ms) of the
    # window, the window measured from before the first request was sent
    # to after the last was answered (wider than Redis saw)
    my $bound = 21 + int(($b->{last} - $b->{first}) / 0.1);
    ok($ok <= $bound, "rate: $ok admitted, at most the exact bound $bound");
    ok($ok >= 1, "rate: some admitted ($ok)");

    sleep 0.5;
    is(TenantRedis::redis('GET', "tenant:{rate}:quota:$DAY"), $ok,
       'rate: the quota counter equals the admitted requests after the '
       . 'leases ended');
}

# ---- a meter and a quota: each reached in turn, exactly

sub until_none {
    my ($tok, $path) = @_;
    my $admitted = 0;
    my $b = burst($tok, $path, 6, 150);
    $admitted += $b->{status}{200} || 0;
    for (1 .. 20) {
        sleep 0.5;
        my $w = burst($tok, $path, 2, 20);
        last unless $w->{status}{200};
        $admitted += $w->{status}{200};
    }
    sleep 0.5;
    return $admitted;
}

{
    my $tok = token('metered', 'mq');
    my $M = substr $DAY, 0, 7;

    is(until_none($tok, '/gen'), 100,
       'meter: exactly its 100 admitted where it applies');
    is(until_none($tok, '/lease'), 200,
       'quota: then exactly the 200 the quota has left, elsewhere');
    is(TenantRedis::redis('GET', "tenant:{metered}:meter:gen:$DAY"), 100,
       'meter: its counter is exactly 100');
    is(TenantRedis::redis('GET', "tenant:{metered}:quota:$DAY"), 300,
       'quota: its counter is exactly 300');
    is(TenantRedis::redis('HGET', "tenant:{metered}:usage:$M", 'meter:gen'),
       100, 'usage: the meter counts the 100');
    is(TenantRedis::redis('HGET', "tenant:{metered}:usage:$M", 'requests'),
       300, 'usage: the requests count the 300');
}

# ---- an internal redirect: the first pass leased, the second exact

{
    my $tok = token('redir', 'mq');
    my $M = substr $DAY, 0, 7;
    my $ua = TenantNginx::ua(1);
    my @s = map { api($n, $tok, path => '/redir', ua => $ua)->{status} } 1 .. 10;
    is("@s", join(' ', (200) x 10), 'redirect: 10 requests admitted');
    sleep 0.5;
    is(TenantRedis::redis('GET', "tenant:{redir}:quota:$DAY"), 10,
       'redirect: the quota counts each request once');
    is(TenantRedis::redis('GET', "tenant:{redir}:meter:gen:$DAY"), 10,
       'redirect: the meter of the second location counts each once');
    is(TenantRedis::redis('HGET', "tenant:{redir}:usage:$M", 'requests')
       . ' ' . TenantRedis::redis('HGET', "tenant:{redir}:usage:$M",
                                  'meter:gen'),
       '10 10', 'redirect: the usage counts each request once');
}

# ---- freshness: a suspension and a revocation heard within ttl

{
    my $tok = token('fresh', 'big');
    my $ua = TenantNginx::ua(1);
    is(api($n, $tok, path => '/lease', ua => $ua)->{status}, 200,
       'suspension: admitted while active');

    TenantRedis::redis('HSET', 'tenant:{fresh}', 'status', 'suspended');
    sleep 0.2 + 0.2;    # ttl, and more than a round trip

    my @s = map { api($n, $tok, path => '/lease', ua => TenantNginx::ua(0))
                  ->{error} } 1 .. 6;
    is("@s", join(' ', ('tenant_suspended') x 6),
       'suspension: refused by both workers once ttl has passed');

    TenantRedis::redis('HDEL', 'tenant:{fresh}', 'status');

    my $jtok = TenantTest::jwt(claims => { org_id => 'fresh', plan => 'big',
                                           jti => 'j-1' });
    is(api($n, $jtok, path => '/lease', ua => $ua)->{status}, 200,
       'revocation: admitted before');
    TenantRedis::redis('SET', 'tenant:{fresh}:revoked:j-1', 1);
    sleep 0.2 + 0.2;

    @s = map { api($n, $jtok, path => '/lease', ua => TenantNginx::ua(0))
               ->{error} } 1 .. 6;
    is("@s", join(' ', ('token_revoked') x 6),
       'revocation: the jti is refused by both workers once ttl has passed');

    # tokens_valid_after, the tenant's, then the user's
    for my $h (['tenant:{fresh}', 'tenant', 'u-1'],
               ['tenant:{fresh}:user:u-2', 'user', 'u-2'])
    {
        my $t = TenantTest::jwt(claims => { org_id => 'fresh', plan => 'big',
                                            sub => $h->[2], iat => time - 5 });
        is(api($n, $t, path => '/lease', ua => $ua)->{status}, 200,
           "revocation ($h->[1]'s tokens_valid_after): admitted before");
        TenantRedis::redis('HSET', $h->[0], 'tokens_valid_after', int(time));
        sleep 0.2 + 0.2;

        @s = map { api($n, $t, path => '/lease', ua => TenantNginx::ua(0))
                   ->{error} } 1 .. 6;
        is("@s", join(' ', ('token_revoked') x 6),
           "revocation ($h->[1]'s tokens_valid_after): refused by both "
           . 'workers once ttl has passed');
        TenantRedis::redis('HDEL', $h->[0], 'tokens_valid_after');
    }
}

# ---- reload mid-lease: the old workers give their units back on exit
# (before any lease of 30 s is held: a worker that shuts down waits for
# its leases to end)

{
    my $tok = token('reload', 'big');
    my $M = substr $DAY, 0, 7;

    # a key's first request in a worker is decided exactly, its second
    # asks for a lease: both on one connection, so in one worker
    my $ua = TenantNginx::ua(1);
    my @s = map { api($n, $tok, path => '/second', ua => $ua)->{status} } 1, 2;
    is("@s", '200 200', 'reload: one exact decision, then a lease of 64 '
       . 'granted and one unit used');
    is(TenantRedis::redis('GET', "tenant:{reload}:quota:$DAY"), 65,
       'reload: the lease is counted at the grant');

    my @old = worker_pids($n);
    kill 'HUP', $n->{master};
    for (1 .. 100) {
        my %now = map { $_ => 1 } worker_pids($n);
        last unless grep { $now{$_} } @old;
        sleep 0.05;
    }
    my %now = map { $_ => 1 } worker_pids($n);
    is(scalar(grep { $now{$_} } @old), 0, 'reload: the old workers exited');

    is(TenantRedis::redis('GET', "tenant:{reload}:quota:$DAY"), 2,
       'reload: the 63 unused units were given back on exit');
    is(TenantRedis::redis('HGET', "tenant:{reload}:usage:$M", 'requests'), 2,
       'reload: the usage counts the two admitted requests');
}

# ---- fewer round trips with leases, one a request without

{
    my $tok = token('trips', 'big');
    my $ua = TenantNginx::ua(1);

    my $before = evalsha_calls();
    my @s = map { api($n, $tok, path => '/long', ua => $ua)->{status} } 1 .. 200;
    my $calls = evalsha_calls() - $before;
    is(scalar(grep { $_ == 200 } @s), 200, 'lease: 200 requests admitted');
    ok($calls <= 200 / 16, "lease: $calls EVALSHA for 200 requests");

    $before = evalsha_calls();
    @s = map { api($n, $tok, path => '/exact', ua => $ua)->{status} } 1 .. 50;
    is(evalsha_calls() - $before, 50, 'off: one EVALSHA a request');
}

# ---- the limit headers say what the worker knows

{
    my $tok = token('headers', 'q1000');
    my $ua = TenantNginx::ua(1);    # one connection: one worker's lease
    my @rem;
    for (1 .. 3) {
        my $r = $ua->get("http://127.0.0.1:$n->{port}/long",
                         { headers => { Authorization => "Bearer $tok" } });
        push @rem, ($r->{headers}{'x-quota-limit'} // '-') . '/'
                   . ($r->{headers}{'x-quota-remaining'} // '-');
    }
    is("@rem", '1000/999 1000/998 1000/997',
       'headers: the quota remaining counts down (one exact decision, then '
       . 'the lease), not from the 64 units counted at the grant');
    is(TenantRedis::redis('GET', "tenant:{headers}:quota:$DAY"), 65,
       'headers: while Redis counts the whole lease');
}

# ---- Redis down mid-lease: the held units, then the failure policy

{
    my $tok = token('down', 'big');
    my $ua = TenantNginx::ua(1);    # one connection: one worker's lease

    my @g = map { api($n, $tok, path => '/long-deny', ua => $ua)->{status} }
            1, 2;
    is("@g", '200 200', 'redis down: one exact decision, then a lease of 64 '
       . 'granted and one unit used');

    TenantRedis::redis_stop();

    my @s = map { api($n, $tok, path => '/long-deny', ua => $ua)->{status} }
            1 .. 70;
    my $held = grep { $_ == 200 } @s[0 .. 62];
    is($held, 63, 'redis down: the 63 units held are admitted');
    is("@s[63 .. 69]", join(' ', (503) x 7),
       'redis down: then the failure policy (deny) answers');

    TenantRedis::redis_start();
}

# ---- configuration mistakes: refused with a clear message

{
    my @bad = (
        ['tenant_limit_lease yes;',
         qr/invalid parameter "yes", expected "on" or "off"/],
        ['tenant_limit_lease on max=0;',
         qr/invalid parameter "max=0", "max" must be from 1 to 1000000/],
        ['tenant_limit_lease on ttl=soon;',
         qr/invalid parameter "ttl=soon", "ttl" must be a time/],
        ['tenant_limit_lease on size=3;', qr/invalid parameter "size=3"/],
        ['tenant_limit_lease off max=3;', qr/expected "on" or "off"/],
        ["tenant_limit_lease on;\n        tenant_limit_lease off;",
         qr/"tenant_limit_lease" directive is duplicate/],
    );
    my $i = 0;
    for my $b (@bad) {
        my $c = { name => 'bad' . $i, prefix => "$TenantNginx::TMP/bad" . $i++,
                  port => TenantNginx::free_port(),
                  uport => TenantNginx::free_port(), log_level => 'info',
                  workers => 1, redis => "tenant_redis 127.0.0.1:$RPORT;",
                  server => "location /x { $b->[0] }" };
        mkdir $c->{prefix};
        mkdir "$c->{prefix}/$_" for qw(conf logs tmp);
        open my $fh, '>', "$c->{prefix}/conf/nginx.conf" or die $!;
        print $fh TenantNginx::conf($c);
        close $fh;
        my $out = `$TenantNginx::NGINX -t -p $c->{prefix}/ -c $c->{prefix}/conf/nginx.conf -e $c->{prefix}/logs/error.log 2>&1`;
        like($out, $b->[1], 'refused: ' . ($b->[0] =~ s/;\n\s*/; /r));
    }
}

like(error_log($n), qr/^(?!.*\[(?:alert|crit|emerg)\])/s,
     'no alert, crit or emerg in the error log');

done_testing();
