#!/usr/bin/perl
#
# The limiter against a live Redis, with nginx instances that keep running
# while Redis goes away, comes back, loses its scripts or is shared: what
# Test::Nginx cannot do, since it restarts nginx for every block.
#
# A plain Test::More script: its own redis-server (TenantRedis, on a free
# loopback port), two nginx instances (master + 1 worker, daemon on) with
# prefixes in a temporary directory, each with a gateway location /api
# (tenant_jwt, tenant_limit, tenant_redis_failure allow) in front of a local
# "return 200" upstream.  HTTP from Perl (HTTP::Tiny), fork for concurrency.
# Loopback only; bounded by an alarm; everything started here is stopped in
# END, on failure too.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Cwd qw(abs_path);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM pack_sockaddr_in unpack_sockaddr_in inet_aton);
use POSIX qw(strftime WNOHANG);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantRedis;    # starts redis-server, sets $ENV{TEST_NGINX_REDIS_PORT}

my $T0 = time;
my $OWNER = $$;

# the whole file is bounded, whatever hangs
$SIG{ALRM} = sub { die "105-redis-live.t: time limit (60 s) reached\n" };
alarm 60;

my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @MODULES = grep { -f } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
@MODULES = grep { /tenant/ || /echo/ } @MODULES;
@MODULES = (abs_path('build/ngx_http_tenant_module.so'))
    unless grep { /tenant/ } @MODULES;
my $DATA = $ENV{TEST_NGINX_DATA_DIR} || abs_path('t/data');
my $TMP = tempdir('tenant-live-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $RPORT = TenantRedis::redis_port();

plan skip_all => "no nginx at $NGINX" unless -x $NGINX;
plan skip_all => "no module at $MODULES[-1]" unless -f $MODULES[-1];

my (%NGX, @KIDS);

sub elapsed { sprintf '%.1fs', time - $T0 }

# ---- nginx instances

sub free_port { TenantRedis::free_port() }

sub nginx_conf {
    my ($n) = @_;
    my $p = $n->{prefix};
    my $load = join '', map { "load_module $_;\n" } @MODULES;
    my $user = $> == 0 ? "user root;\n" : '';
    my $use = $ENV{TEST_NGINX_EVENT_TYPE}    # as Test::Nginx does
        ? "    use $ENV{TEST_NGINX_EVENT_TYPE};\n" : '';
    my $temp = join '', map { "    ${_}_temp_path $p/tmp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    return <<"_EOC_";
${load}${user}master_process on;
worker_processes 1;
daemon on;
error_log $p/logs/error.log notice;
pid $p/logs/nginx.pid;

events {
    worker_connections 1024;
$use}

http {
    access_log off;
$temp
    tenant_redis 127.0.0.1:$n->{rport} timeout=100ms;
    tenant_redis_failure allow;

    # "pro": what the default test token names, an exact daily quota
    tenant_plan pro rate=100000r/s burst=100000 quota=100/day;
    tenant_plan big rate=100000r/s burst=100000 quota=999999999/day;
    tenant_default_plan big;

    upstream backend {
        server 127.0.0.1:$n->{uport};
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$n->{uport};
        location / {
            return 200 "upstream ok\\n";
        }
        location /missing {
            return 404;
        }
    }

    server {
        listen 127.0.0.1:$n->{port};

        location /api {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            add_header X-Limit-Status \$tenant_limit_status always;
            add_header X-Request-Time \$request_time always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        location /api-deny {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            tenant_redis_failure deny;
            add_header X-Limit-Status \$tenant_limit_status always;
            add_header X-Request-Time \$request_time always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        # internal redirects into a limited location: still one decision
        location /redir {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            try_files /no-such-file \@fallback;
        }

        # verified but not limited here: the limited fallback must count
        location /redir-open {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            try_files /no-such-file \@fallback;
        }

        location /intercept {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            proxy_intercept_errors on;
            error_page 404 = \@fallback;
            proxy_pass http://backend/missing;
        }

        location \@fallback {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            add_header X-Limit-Status \$tenant_limit_status always;
            add_header X-Fallback "tenant=\$tenant_id" always;
            # content phase (not "return", which would answer before access)
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        location /plain {
            return 200 "plain\\n";
        }
    }
}
_EOC_
}

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
    close $s if $s;
    return !!$s;
}

sub nginx_start {
    my ($name, $rport) = @_;
    my $n = $NGX{$name} = {
        name => $name, prefix => "$TMP/$name",
        port => free_port(), uport => free_port(), rport => $rport || $RPORT,
    };
    make_path("$n->{prefix}/$_") for qw(conf logs tmp);
    open my $fh, '>', "$n->{prefix}/conf/nginx.conf" or die $!;
    print $fh nginx_conf($n);
    close $fh;

    system($NGINX, '-p', "$n->{prefix}/", '-c', "$n->{prefix}/conf/nginx.conf",
           '-e', "$n->{prefix}/logs/error.log") == 0
        or die "nginx $name did not start: " . slurp("$n->{prefix}/logs/error.log");

    for (1 .. 100) {
        ($n->{master}) = slurp("$n->{prefix}/logs/nginx.pid") =~ /(\d+)/;
        last if $n->{master} && port_open($n->{port}) && worker_pids($n);
        sleep 0.05;
    }
    die "nginx $name is not listening on $n->{port}" unless port_open($n->{port});
    note "nginx $name: master $n->{master}, port $n->{port}, upstream $n->{uport}";
    return $n;
}

sub nginx_stop {
    my ($n) = @_;
    my $pid = $n->{master} or return;
    return unless kill 0, $pid;
    kill 'QUIT', $pid;
    for (1 .. 60) { return unless kill 0, $pid; sleep 0.05 }
    kill 'TERM', $pid;
    for (1 .. 20) { return unless kill 0, $pid; sleep 0.05 }
    kill 'KILL', $pid;
}

# the live workers of a master (not the master, not the cache helpers)
sub worker_pids {
    my ($n) = @_;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat) or next;
        my ($pid, $state, $ppid) = $s =~ /^(\d+) \(.*\) (\S) (\d+)/ or next;
        next unless $ppid == ($n->{master} || -1) && $state ne 'Z';
        my $cmd = slurp("/proc/$pid/cmdline");
        push @w, $pid if $cmd =~ /worker process/;
    }
    @w = sort { $a <=> $b } @w;
    return @w;
}

sub shutting_down_workers {
    my ($n) = @_;
    return grep { slurp("/proc/$_/cmdline") =~ /shutting down/ } worker_pids($n);
}

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return scalar(<$in>) // '';
}

sub error_log { slurp("$_[0]{prefix}/logs/error.log") }

END {
    local $?;    # waitpid below must not become the exit code
    if ($$ == $OWNER) {
        kill 'KILL', $_ for grep { waitpid($_, WNOHANG) == 0 } @KIDS;
        nginx_stop($_) for values %NGX;
    }
}

# ---- HTTP

my %UA;

sub ua {
    my ($keepalive) = @_;
    return HTTP::Tiny->new(keep_alive => $keepalive ? 1 : 0, timeout => 5,
                           agent => 'tenant-live-test');
}

# one GET /api: { status, limit (X-Limit-Status), error (JSON code),
# took (client side, s), rt ($request_time, server side) }
sub api {
    my ($n, $token, $ua, $path) = @_;
    $ua ||= ($UA{$n->{name}} ||= ua(1));
    $path ||= '/api';
    my $t = time;
    my $r = $ua->get("http://127.0.0.1:$n->{port}$path",
                     { headers => { Authorization => "Bearer $token" } });
    my ($err) = ($r->{content} // '') =~ /"error":"([a-z_]+)"/;
    return {
        status => $r->{status},
        limit  => $r->{headers}{'x-limit-status'} // '',
        error  => $err // '',
        took   => time - $t,
        rt     => $r->{headers}{'x-request-time'} // '',
        body   => $r->{content} // '',
    };
}

sub token { TenantTest::jwt(claims => { org_id => $_[0], plan => $_[1] || 'big' }) }

sub today { strftime('%Y-%m-%d', gmtime) }

sub quota_key { "tenant:{$_[0]}:quota:" . today() }

sub counter { my $v = eval { redis('GET', quota_key($_[0])) }; defined $v ? $v : 0 }

# INFO commandstats as { cmd => { calls => N, failed_calls => N, ... } }
sub commandstats {
    my %s;
    for (split /\r?\n/, redis('INFO', 'commandstats')) {
        next unless /^cmdstat_([^:]+):(.*)/;
        my ($cmd, $kv) = ($1, $2);
        $s{$cmd} = { map { split /=/, $_, 2 } split /,/, $kv };
    }
    return \%s;
}

sub calls { my ($s, $cmd, $f) = @_; ($s->{$cmd} && $s->{$cmd}{$f || 'calls'}) || 0 }

sub client_count { scalar grep { /\S/ } split /\n/, redis('CLIENT', 'LIST') }

# fork a client; its results, one line a request, land in a file
sub spawn_client {
    my ($file, $code) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        alarm 30;
        open my $out, '>', $file or POSIX::_exit(1);
        select((select($out), $| = 1)[0]);
        eval { $code->($out) };
        print $out "DIED $@" if $@;
        close $out;
        POSIX::_exit(0);
    }
    push @KIDS, $pid;
    return $pid;
}

sub wait_kids {
    my $deadline = time + 30;
    for my $pid (@_) {
        while (waitpid($pid, WNOHANG) == 0) {
            if (time > $deadline) { kill 'KILL', $pid; waitpid($pid, 0); last }
            sleep 0.02;
        }
    }
}

sub result_lines { map { [split ' ', $_] } grep { /\S/ } split /\n/, slurp($_[0]) }

# ---- start

redis('FLUSHALL');
my $A = nginx_start('a');
my $B = nginx_start('b');

{
    my $r = api($A, token('warmup'));
    is $r->{status}, 200, 'warm-up request through node a is admitted';
    is $r->{limit}, 'PASSED', '... by the limiter';
    like $r->{body}, qr/upstream ok/, '... and reaches the upstream';
    $r = api($B, token('warmup'));
    is $r->{limit}, 'PASSED', 'warm-up request through node b passes the limiter';
}

# ---- a. exactness across nodes: 300 concurrent requests, quota 100

subtest 'a. quota=100/day is exact across two nginx on one Redis' => sub {
    my $day = today();
    my $token = TenantTest::jwt();    # acme, plan pro: quota=100/day
    redis('DEL', quota_key('acme'), 'tenant:{acme}:rate');

    my (@files, @pids);
    for my $i (0 .. 5) {
        my $n = $i % 2 ? $B : $A;
        my $file = "$TMP/a-$i.out";
        push @files, [$n->{name}, $file];
        push @pids, spawn_client($file, sub {
            my ($out) = @_;
            my $ua = ua(1);
            for (1 .. 50) {
                my $r = api($n, $token, $ua);
                print $out "$r->{status} $r->{limit} " . ($r->{error} || '-') . "\n";
            }
        });
    }
    my $t = time;
    wait_kids(@pids);
    note sprintf '300 requests over 6 clients in %.2fs', time - $t;

    my (%by, %node, $total);
    for my $f (@files) {
        for my $l (result_lines($f->[1])) {
            $total++;
            $by{"@$l"}++;
            $node{$f->[0]}{$l->[0]}++;
        }
    }
    note "outcomes: " . join ', ', map { "$_ x $by{$_}" } sort keys %by;
    for my $name (sort keys %node) {
        note "node $name: " . join ', ',
            map { "$_ x $node{$name}{$_}" } sort keys %{ $node{$name} };
    }

    SKIP: {
        skip 'the UTC day changed during the test', 5 if today() ne $day;
        is $total, 300, 'all 300 requests were answered';
        is $by{'200 PASSED -'} || 0, 100, 'exactly 100 admitted in total';
        is $by{'429 REJECTED quota_exceeded'} || 0, 200,
            'the other 200 are 429 quota_exceeded';
        is scalar(keys %by), 2, 'no other outcome' or diag explain \%by;
        is redis('GET', quota_key('acme')), 100, "Redis counter @{[quota_key('acme')]} is 100";
    }
};

# ---- b. Redis stopped and restarted while nginx runs

subtest 'b. Redis restarted under running nginx: fail open fast, recover without reload' => sub {
    my $token = token('live-b');
    my @workers = (worker_pids($A), worker_pids($B));

    for (1 .. 3) {
        is api($_, $token)->{limit}, 'PASSED', "before: $_->{name} passes" for $A, $B;
    }
    is counter('live-b'), 6, 'before: the counter counts 6';

    my $logpos = length error_log($A);

    redis_stop();
    my $down = time;
    my ($max, $maxrt, $n, @bad) = (0, 0, 0);
    # about 1.5 s down: the reconnect backoff grows to its 500ms ceiling
    while (time - $down < 1.5) {
        for my $node ($A, $B) {
            my $r = api($node, $token);
            $n++;
            $max = $r->{took} if $r->{took} > $max;
            $maxrt = $r->{rt} if $r->{rt} ne '' && $r->{rt} > $maxrt;
            push @bad, "$node->{name}: $r->{status} $r->{limit} $r->{took}"
                unless $r->{status} == 200 && $r->{limit} eq 'UNAVAILABLE'
                       && $r->{took} < 0.2;
        }
        sleep 0.05;
    }
    diag sprintf 'Redis down: %d requests, slowest %.1fms client side, '
                 . '$request_time max %.3fs', $n, $max * 1000, $maxrt;
    ok $n >= 10, "$n requests made while Redis was down";
    is_deeply \@bad, [], 'each: 200, UNAVAILABLE, under 200ms';

    # plain locations do not care at all
    my $p = ua(0)->get("http://127.0.0.1:$A->{port}/plain");
    is $p->{status}, 200, '/plain answers while Redis is down';

    redis_start();
    my $up = time;
    my %back;
    while (keys %back < 2 && time - $up < 5) {
        for my $node ($A, $B) {
            next if $back{$node->{name}};
            my $r = api($node, $token);
            $back{$node->{name}} = time - $up if $r->{limit} eq 'PASSED';
            fail("$node->{name}: $r->{status} during recovery")
                unless $r->{status} == 200;
        }
        sleep 0.05;
    }
    diag sprintf 'recovery after redis-server restart: node a %s, node b %s',
        map { defined $_ ? sprintf('%.2fs', $_) : 'never' } @back{qw(a b)};
    for my $name (qw(a b)) {
        ok defined $back{$name} && $back{$name} < 1,
           "node $name passes the limiter again within 1 s";
    }

    my $c0 = counter('live-b');
    ok $c0 >= 1, "the counter counts again in the new Redis ($c0)";
    api($_, $token) for $A, $B, $A;
    is counter('live-b'), $c0 + 3, 'and keeps counting, one per request';

    is_deeply [worker_pids($A), worker_pids($B)], \@workers,
        'the same worker processes: no reload, no respawn';

    my $log = substr error_log($A), $logpos;
    like $log, qr/\[error\] [^\n]*tenant: redis/, 'node a logged the failure at [error]';
    like $log, qr/\[warn\] [^\n]*tenant: redis connection restored/,
        'node a logged the recovery at [warn]';

    # at most one "tenant: " error line a second per worker for the link's
    # own failures (why), and one for the requests' (logged with a client)
    my %sec;
    for (grep { /\[error\] (\d+)#\d+: .*tenant: / } split /\n/, $log) {
        my ($ts, $pid) = /^(\S+ \S+) \[error\] (\d+)#/;
        my $kind = /, client: / ? 'request' : 'link';
        $sec{"$pid $ts $kind"}++;
    }
    my @dup = grep { $sec{$_} > 1 } sort keys %sec;
    ok !@dup, 'no two "tenant: " error lines of a kind in one second of one worker'
        or diag join "\n", grep { /tenant: / } split /\n/, $log;
    note scalar(keys %sec) . " failure lines for the whole outage on node a:";
    note join "\n", grep { /tenant: / } split /\n/, $log;
};

# ---- c. NOSCRIPT: SCRIPT FLUSH under running nginx

subtest 'c. SCRIPT FLUSH: EVALSHA falls back to EVAL transparently' => sub {
    my $token = token('live-c');
    for (1 .. 3) {
        is api($_, $token)->{limit}, 'PASSED', "before: $_->{name} passes" for $A, $B;
    }
    is counter('live-c'), 6, 'before: the counter counts 6';

    redis('CONFIG', 'RESETSTAT');
    redis('SCRIPT', 'FLUSH');

    my @bad;
    for my $i (1 .. 10) {
        my $node = $i % 2 ? $A : $B;
        my $r = api($node, $token);
        push @bad, "$i $node->{name}: $r->{status} $r->{limit} $r->{body}"
            unless $r->{status} == 200 && $r->{limit} eq 'PASSED';
    }
    is_deeply \@bad, [], 'after SCRIPT FLUSH: all 10 requests 200 PASSED';
    is counter('live-c'), 16, 'the counter went on: 16, one per request, none twice';

    my $s = commandstats();
    note 'commandstats: ' . join ' ', map { "$_=" . calls($s, $_) } sort keys %$s;
    ok calls($s, 'eval') >= 1, 'cmdstat_eval: the EVAL fallback ran ('
        . calls($s, 'eval') . ')';
    ok calls($s, 'eval') <= 2, 'at most once per worker (2 workers)';
    is calls($s, 'hmget'), 10, 'the script itself ran exactly 10 times';

    my $redo = api($A, $token);
    is $redo->{limit}, 'PASSED', 'later EVALSHAs succeed (the script is loaded again)';
};

# ---- d. exactly one Redis round trip a request

subtest 'd. one EVALSHA per request' => sub {
    my $token = token('live-d');
    api($_, $token) for $A, $B;    # connections warm
    redis('CONFIG', 'RESETSTAT');

    my $N = 200;
    my (@pids, @files);
    for my $i (0 .. 3) {
        my $n = $i % 2 ? $B : $A;
        my $file = "$TMP/d-$i.out";
        push @files, $file;
        push @pids, spawn_client($file, sub {
            my ($out) = @_;
            my $ua = ua(1);
            print $out api($n, $token, $ua)->{limit}, "\n" for 1 .. $N / 4;
        });
    }
    wait_kids(@pids);
    my @res = map { result_lines($_) } @files;
    is scalar(grep { $_->[0] eq 'PASSED' } @res), $N, "$N requests passed";

    my $s = commandstats();
    my %calls = map { $_ => calls($s, $_) } keys %$s;
    diag 'commandstats for ' . $N . ' requests: '
        . join ' ', map { "$_=$calls{$_}" } sort keys %calls;
    is calls($s, 'evalsha') + calls($s, 'eval'), $N,
       "evalsha + eval == $N: one script call per request";
    is calls($s, 'evalsha', 'failed_calls') + calls($s, 'eval', 'failed_calls'), 0,
       'none failed';
    is calls($s, 'hmget'), $N, 'the script body ran once per request (HMGET count)';
    is counter('live-d'), $N + 2, 'the counter counts every request once';

    # the module sends nothing else: what is left is our own INFO/CONFIG
    # and the calls made from inside the script (Redis 7 counts those too):
    # HGET reads the tokens_valid_after of the token's user
    my %script = map { $_ => 1 } qw(hmget hget exists time get mget set incr
                                    hincrby expireat);
    # (Redis 7 names subcommands "config|resetstat")
    my @other = grep { !$script{$_} && !/^(?:evalsha|eval|info|config)(?:\|\w+)?$/ }
                sort keys %calls;
    is_deeply \@other, [], 'no command other than the script and its own calls'
        or diag "others: @other";
};

# ---- g. a black-holed Redis: connects that never complete

subtest 'g. Redis address that never completes the TCP handshake: 1 s connect timeout, requests still fast' => sub {
    # a listener whose accept queue is full: further SYNs are dropped, so
    # a connect hangs as towards a vanished host, on loopback
    socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($l, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
    listen($l, 0) or die "listen: $!";
    my ($bport) = unpack_sockaddr_in(getsockname($l));
    my @fill;
    for (1 .. 3) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$bport", Timeout => 0.3);
        push @fill, $s if $s;
    }
    ok !IO::Socket::INET->new(PeerAddr => "127.0.0.1:$bport", Timeout => 0.3),
        "the listener on $bport black-holes new connections";

    my $t0 = time;
    my $C = nginx_start('c', $bport);
    my $token = token('live-g');
    my (@bad, @lat, $n);
    while (time - $t0 < 2.5) {
        for my $path ('/api', '/api-deny') {
            my $r = api($C, $token, undef, $path);
            $n++;
            push @lat, [$r->{took}, time - $t0];
            my $want = $path eq '/api' ? 200 : 503;
            push @bad, sprintf('%s at %.2fs: %s %s %.3fs', $path, time - $t0,
                               $r->{status}, $r->{limit}, $r->{took})
                unless $r->{status} == $want && $r->{limit} eq 'UNAVAILABLE'
                       && $r->{took} < 0.2;
        }
        sleep 0.05;
    }
    my ($max) = sort { $b <=> $a } map { $_->[0] } @lat;
    my $waited = grep { $_->[0] >= 0.09 } @lat;
    diag sprintf 'black-holed Redis: %d requests, slowest %.1fms, %d waited for '
                 . 'the 100ms timer', $n, $max * 1000, $waited;
    is_deeply \@bad, [], 'each: allow 200 / deny 503, UNAVAILABLE, under 200ms';

    # until the first connect times out (1 s), requests queue behind it and
    # wait for their 100ms timer; after that the worker knows Redis is
    # unhealthy and fails them at once, while it keeps trying in the
    # background
    my @late = grep { $_->[1] > 1.8 && $_->[0] >= 0.09 } @lat;
    is scalar(@late), 0, 'after the 1 s connect timeout no request waits for Redis'
        or diag explain \@late;
    ok $waited >= 1, 'before it, requests did wait for their timer';

    my $log = error_log($C);
    like $log, qr/\[error\] [^\n]*tenant: redis/, 'the failure is logged at [error]';
    note join "\n", grep { /tenant: / } split /\n/, $log;
    my $p = ua(0)->get("http://127.0.0.1:$C->{port}/plain");
    is $p->{status}, 200, '/plain answers';
    nginx_stop($C);
    delete $NGX{c};
    unlike $log, qr/exited on signal/, 'no crash';
    close $_ for @fill;
    close $l;
};

# ---- h. a Redis that stalls (CLIENT PAUSE) under running nginx

subtest 'h. Redis stalls for 3.5 s (CLIENT PAUSE ALL): requests time out fast, then recover' => sub {
    my $token = token('live-h');
    is api($A, $token)->{limit}, 'PASSED', 'before: a passes';
    my $logpos = length error_log($A);

    redis('CLIENT', 'PAUSE', 3500, 'ALL');
    my $t0 = time;
    my (@bad, $max, $n);
    ($max, $n) = (0, 0);
    # no redis() from here until the pause is over: it would wait too
    while (time - $t0 < 3.3) {
        my $r = api($A, $token);
        $n++;
        $max = $r->{took} if $r->{took} > $max;
        push @bad, sprintf('at %.2fs: %s %s %.3fs', time - $t0, $r->{status},
                           $r->{limit}, $r->{took})
            unless $r->{status} == 200 && $r->{limit} eq 'UNAVAILABLE'
                   && $r->{took} < 0.2;
        sleep 0.05;
    }
    diag sprintf 'Redis paused: %d requests, slowest %.1fms', $n, $max * 1000;
    is_deeply \@bad, [], 'each: 200, UNAVAILABLE, under 200ms (timeout=100ms)';

    sleep 0.05 while time - $t0 < 3.55;
    my ($back, $r);
    while (time - $t0 < 8) {
        $r = api($A, $token);
        if ($r->{limit} eq 'PASSED') { $back = time - $t0 - 3.5; last }
        sleep 0.05;
    }
    diag sprintf 'after the pause ended: passing again in %s',
        defined $back ? sprintf('%.2fs', $back) : 'never';
    ok defined $back && $back < 1, 'the limiter answers again within 1 s';

    my $log = substr error_log($A), $logpos;
    like $log, qr/\[error\] [^\n]*tenant: redis did not answer in time/,
        'the request timeout was logged';
    note join "\n", grep { /tenant: / } split /\n/, $log;
};

# ---- i. the connection killed from the Redis side

subtest 'i. CLIENT KILL: the connection comes back at once' => sub {
    my $token = token('live-i');
    is api($_, $token)->{limit}, 'PASSED', "before: $_->{name} passes" for $A, $B;
    my $killed = redis('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    ok $killed >= 2, "killed $killed connections (both nodes)";
    my $t0 = time;
    my %back;
    while (keys %back < 2 && time - $t0 < 3) {
        for my $node ($A, $B) {
            next if defined $back{$node->{name}};
            my $r = api($node, $token);
            $back{$node->{name}} = time - $t0 if $r->{limit} eq 'PASSED';
        }
        sleep 0.02;
    }
    diag sprintf 'after CLIENT KILL: node a back in %s, node b in %s',
        map { defined $_ ? sprintf('%.2fs', $_) : 'never' } @back{qw(a b)};
    for my $name (qw(a b)) {
        ok defined $back{$name} && $back{$name} < 1, "node $name reconnects within 1 s";
    }
};

# ---- k. a reload while Redis is down

subtest 'k. reload while Redis is down: new worker fails open fast, recovers when Redis returns' => sub {
    my $token = token('live-k');
    is api($B, $token)->{limit}, 'PASSED', 'before: b passes';
    my @old = worker_pids($B);

    redis_stop();
    my $t0 = time;
    kill 'HUP', $B->{master};
    my $deadline = time + 4;
    my @new;
    while (time < $deadline) {
        @new = grep { my $p = $_; !grep { $_ == $p } @old } worker_pids($B);
        last if @new && !shutting_down_workers($B) && worker_pids($B) == 1;
        sleep 0.05;
    }
    is scalar(@new), 1, sprintf('a new worker, the old one gone (%.2fs)', time - $t0);

    my (@bad, $max) = ();
    $max = 0;
    for (1 .. 10) {
        my $r = api($B, $token, ua(0));
        $max = $r->{took} if $r->{took} > $max;
        push @bad, "$r->{status} $r->{limit} $r->{took}"
            unless $r->{status} == 200 && $r->{limit} eq 'UNAVAILABLE' && $r->{took} < 0.2;
        sleep 0.05;
    }
    is_deeply \@bad, [], 'the new worker fails open at once (200 UNAVAILABLE, < 200ms)';
    note sprintf 'slowest: %.1fms', $max * 1000;

    redis_start();
    my $up = time;
    my $back;
    while (time - $up < 5) {
        if (api($B, $token)->{limit} eq 'PASSED') { $back = time - $up; last }
        sleep 0.05;
    }
    diag sprintf 'reloaded worker, Redis back: passing again in %s',
        defined $back ? sprintf('%.2fs', $back) : 'never';
    ok defined $back && $back < 1, 'the reloaded worker recovers within 1 s';

    # node a was not reloaded: its worker may be anywhere in its backoff
    # (at most 500ms) and must come back within 1 s of Redis, as the
    # issue asks of the gateway
    my $a_back;
    while (time - $up < 5) {
        if (api($A, $token)->{limit} eq 'PASSED') { $a_back = time - $up; last }
        sleep 0.05;
    }
    ok defined $a_back && $a_back < 1,
       sprintf 'node a recovered too, within its backoff (%s)',
               defined $a_back ? sprintf('%.2fs', $a_back) : 'never';
};

# ---- j. internal redirects: one decision per client request

# /redir-open: the first location verifies the token but has no limit (its
# Redis call only reads the tenant's status); the fallback it redirects to
# is limited, so the request must be counted there, once.  That takes a
# second round trip: the first pass cannot know a redirect will follow.
subtest 'j. a request internally redirected into another limited location is counted once' => sub {
    for my $path ('/redir', '/intercept', '/redir-open') {
        my $tenant = 'live-j' . ($path =~ s{/}{-}r);
        my $token = token($tenant);
        my $c0 = counter($tenant);
        my $ua = ua(1);
        $ua->get("http://127.0.0.1:$A->{port}/plain");    # connection up
        redis('CONFIG', 'RESETSTAT');
        my @r;
        for (1 .. 5) {
            my $res = $ua->get("http://127.0.0.1:$A->{port}$path",
                               { headers => { Authorization => "Bearer $token" } });
            push @r, join ' ', $res->{status}, $res->{headers}{'x-fallback'} // '-',
                               $res->{headers}{'x-limit-status'} // '-';
        }
        is_deeply \@r, [("200 tenant=$tenant PASSED") x 5],
            "$path: 5 requests end in the fallback location, verified and limited there";
        my $s = commandstats();
        my $trips = $path eq '/redir-open' ? 10 : 5;
        is calls($s, 'evalsha') + calls($s, 'eval'), $trips,
           "$path: $trips EVALSHA for 5 requests: one per pass that needs a new decision";
        is counter($tenant) - $c0, 5, "$path: the quota counter grew by exactly 5, one per request"
            or diag 'quota counted ' . (counter($tenant) - $c0) . ' for 5 requests';
    }
};

# ---- e. reloads under light load

subtest 'e. nginx -s reload twice under load: counters go on, no leaked connection' => sub {
    my $token = token('live-e');
    sleep 0.3;
    my $clients0 = client_count();
    my $c0 = counter('live-e');
    note "Redis clients before: $clients0";

    my $file = "$TMP/e.out";
    my $kid = spawn_client($file, sub {
        my ($out) = @_;
        my $end = time + 3.5;
        while (time < $end) {
            my $r = api($A, $token, ua(0));
            printf $out "%s %s %.3f\n", $r->{status}, $r->{limit} || '-', $r->{took};
            sleep 0.02;
        }
    });

    my @samples = ($c0);
    my @old = worker_pids($A);
    sleep 0.7;
    push @samples, counter('live-e');
    kill 'HUP', $A->{master};
    sleep 1.2;
    push @samples, counter('live-e');
    kill 'HUP', $A->{master};
    sleep 1.2;
    push @samples, counter('live-e');
    wait_kids($kid);
    push @samples, counter('live-e');
    note "counter samples: @samples";

    my @mono = grep { $samples[$_] < $samples[$_ - 1] } 1 .. $#samples;
    ok !@mono, 'the counter never went back (no reset across reloads)';
    ok $samples[-1] > $samples[0], 'and it grew';

    my @res = result_lines($file);
    my %by;
    $by{"$_->[0] $_->[1]"}++ for @res;
    note 'outcomes: ' . join ', ', map { "$_ x $by{$_}" } sort keys %by;
    my $slow = (sort { $b <=> $a } map { $_->[2] } @res)[0] // 0;
    note sprintf 'slowest request during the reloads: %.1fms', $slow * 1000;
    ok @res >= 50, scalar(@res) . ' requests made during the reloads';
    is $by{'200 PASSED'} || 0, scalar @res, 'every one 200 PASSED'
        or diag explain \%by;
    is counter('live-e') - $c0, $by{'200 PASSED'} || 0,
       'the counter grew by exactly the admitted requests';

    # old workers gone, connections not leaked
    my $deadline = time + 4;
    sleep 0.1 while time < $deadline
                     && (shutting_down_workers($A) || scalar(my @w = worker_pids($A)) != 1);
    my @new = worker_pids($A);
    is scalar(@new), 1, 'one worker left after the reloads';
    ok !grep({ my $o = $_; grep { $_ == $o } @new } @old), 'and it is a new one';
    sleep 2;
    my $clients1 = client_count();
    note "Redis clients after: $clients1";
    ok $clients1 <= $clients0 + 1, "Redis clients $clients0 -> $clients1: no leak"
        or diag redis('CLIENT', 'LIST');

    my $r = api($A, $token);
    is $r->{limit}, 'PASSED', 'the reloaded node passes the limiter';
};

# ---- f. no crash anywhere

subtest 'f. no worker crashed' => sub {
    for my $n ($A, $B) {
        my $log = error_log($n);
        unlike $log, qr/exited on signal/, "node $n->{name}: no worker exited on a signal";
        my @alert = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
        is scalar(@alert), 0, "node $n->{name}: no [alert], [crit] or [emerg]"
            or diag join "\n", @alert;
    }
};

note 'total ' . elapsed();
alarm 0;
done_testing();
