#!/usr/bin/perl
#
# Keyed limits and lockout across two nginx instances sharing one Redis:
# what Test::Nginx cannot do, since it runs one nginx at a time.
#
# A plain Test::More script, like t/105-redis-live.t: its own
# redis-server (TenantRedis, on a free loopback port), two nginx
# instances (master + 1 worker, daemon on) with prefixes in a temporary
# directory, each with
#   /zone        tenant_limit_by shared (key=$http_x_key rate=10r/m burst=9)
#   /login       tenant_lockout key=$arg_user after=3 window=60s duration=60s
#   /slow-login  the same, in front of an upstream that takes 0.5 s to
#                answer 401
# in front of a local upstream whose /check answers 401 unless ?pw=ok.
# HTTP from Perl (HTTP::Tiny), fork for concurrency.  Loopback only;
# bounded by an alarm; everything started here is stopped in END, on
# failure too.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Cwd qw(abs_path);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantRedis;    # starts redis-server, sets $ENV{TEST_NGINX_REDIS_PORT}

my $T0 = time;
my $OWNER = $$;

$SIG{ALRM} = sub { die "212-keyed-live.t: time limit (60 s) reached\n" };
alarm 60;

my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @MODULES = grep { -f } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
@MODULES = grep { /tenant/ || /echo/ } @MODULES;
@MODULES = (abs_path('build/ngx_http_tenant_module.so'))
    unless grep { /tenant/ } @MODULES;
my $ECHO = grep { /echo/ } @MODULES;
my $TMP = tempdir('tenant-keyed-live-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $RPORT = TenantRedis::redis_port();

plan skip_all => "no nginx at $NGINX" unless -x $NGINX;
plan skip_all => "no module at $MODULES[-1]" unless -f $MODULES[-1];

my (%NGX, @KIDS);

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
    # an upstream that takes 0.5 s to say 401 (needs the echo module)
    my $slow = $ECHO ? <<'_EOC_' : '';
        location /slow401 {
            echo_status 401;
            echo_sleep 0.5;
            echo "wrong password";
        }
_EOC_
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
    tenant_redis 127.0.0.1:$n->{rport} timeout=500ms;

    tenant_limit_zone shared key=\$http_x_key rate=10r/m burst=9;

    upstream backend {
        server 127.0.0.1:$n->{uport};
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$n->{uport};
        location / {
            return 200 "upstream ok\\n";
        }
        location /check {
            if (\$arg_pw != "ok") {
                return 401 "wrong password\\n";
            }
            return 200 "welcome\\n";
        }
$slow
    }

    server {
        listen 127.0.0.1:$n->{port};

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        add_header X-Node $n->{name} always;
        add_header X-Request-Time \$request_time always;

        location /zone {
            tenant_limit_by shared;
            proxy_pass http://backend;
        }

        location /login {
            tenant_lockout key=\$arg_user after=3 window=60s duration=60s;
            proxy_pass http://backend/check;
        }

        location /slow-login {
            tenant_lockout key=\$arg_user after=3 window=60s duration=60s;
            proxy_pass http://backend/slow401;
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

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return scalar(<$in>) // '';
}

sub nginx_start {
    my ($name) = @_;
    my $n = $NGX{$name} = {
        name => $name, prefix => "$TMP/$name",
        port => free_port(), uport => free_port(), rport => $RPORT,
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
        last if $n->{master} && port_open($n->{port}) && port_open($n->{uport});
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

sub error_log { slurp("$_[0]{prefix}/logs/error.log") }

END {
    local $?;
    if ($$ == $OWNER) {
        kill 'KILL', $_ for grep { waitpid($_, WNOHANG) == 0 } @KIDS;
        nginx_stop($_) for values %NGX;
    }
}

# ---- HTTP

my %UA;

sub ua { HTTP::Tiny->new(keep_alive => $_[0] ? 1 : 0, timeout => 5, agent => 'tenant-keyed-live') }

# one GET: { status, error (JSON code), retry (Retry-After), took (s) }
sub get {
    my ($n, $path, $headers, $ua) = @_;
    $ua ||= ($UA{$n->{name}} ||= ua(1));
    my $t = time;
    my $r = $ua->get("http://127.0.0.1:$n->{port}$path", { headers => $headers || {} });
    my ($err) = ($r->{content} // '') =~ /"error":"([a-z_]+)"/;
    return {
        status => $r->{status},
        error  => $err // '',
        retry  => $r->{headers}{'retry-after'} // '',
        node   => $r->{headers}{'x-node'} // '',
        took   => time - $t,
        body   => $r->{content} // '',
    };
}

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

sub lines { grep { length } split /\n/, slurp($_[0]) }

# ---- the nodes

my $A = nginx_start('a');
my $B = nginx_start('b');

# both workers connected and the script loaded
for my $n ($A, $B) {
    my $ok;
    for (1 .. 40) {
        $ok = get($n, '/zone', { 'X-Key' => "warm-$n->{name}" })->{status} == 200 and last;
        sleep 0.05;
    }
    ok $ok, "node $n->{name} answers through its zone";
}

# ---- a. one zone, two nodes

subtest 'a. rate=10r/m burst=9 keyed by a header: 40 requests alternating between the nodes, 10 admitted in all' => sub {
    my (%by, %node);
    for my $i (1 .. 40) {
        my $n = $i % 2 ? $A : $B;
        my $r = get($n, '/zone', { 'X-Key' => 'live-a' });
        $by{$r->{status}}++;
        $node{"$n->{name} $r->{status}"}++;
    }
    note 'outcomes: ' . join ', ', map { "$_ x $node{$_}" } sort keys %node;
    is $by{200} || 0, 10, 'exactly 10 admitted';
    is $by{429} || 0, 30, 'the other 30 refused with 429';
    ok $node{'a 200'} && $node{'b 200'}, 'both nodes admitted some';
    ok $node{'a 429'} && $node{'b 429'}, 'both nodes refused some';
    is_deeply redis('KEYS', 'tenant:zone:shared:{live-a}'), ['tenant:zone:shared:{live-a}'],
        'one key in Redis for both nodes';

    my $r = get($B, '/zone', { 'X-Key' => 'live-a' });
    is $r->{status}, 429, 'and the next one too';
    is $r->{error}, 'rate_limited', 'rate_limited';
    ok $r->{retry} >= 1 && $r->{retry} <= 6, "Retry-After $r->{retry}: within one interval (6 s)";

    is get($A, '/zone', { 'X-Key' => 'live-a2' })->{status}, 200, 'another key is admitted';
};

subtest 'b. the same, concurrently: 4 clients, 2 per node, 10 requests each: 10 admitted' => sub {
    my (@pids, @files);
    for my $i (0 .. 3) {
        my $n = $i % 2 ? $B : $A;
        my $file = "$TMP/b-$i.out";
        push @files, $file;
        push @pids, spawn_client($file, sub {
            my ($out) = @_;
            my $ua = ua(1);
            print $out get($n, '/zone', { 'X-Key' => 'live-b' }, $ua)->{status}, "\n" for 1 .. 10;
        });
    }
    wait_kids(@pids);
    my @res = map { lines($_) } @files;
    is scalar(@res), 40, '40 answers';
    is scalar(grep { $_ eq '200' } @res), 10, 'exactly 10 admitted';
    is scalar(grep { $_ eq '429' } @res), 30, '30 refused';
};

# ---- c. lockout across nodes

subtest 'c. three failures on node a lock the key on node b too' => sub {
    my @r = map { get($A, "/login?user=mallory&pw=guess$_")->{status} } 1 .. 3;
    is_deeply \@r, [401, 401, 401], 'node a: three 401s from the upstream';

    # counting is not waited for: allow its reply a moment
    my $locked;
    for (1 .. 20) {
        last if $locked = redis('EXISTS', 'tenant:lockout:{mallory}:locked');
        sleep 0.02;
    }
    ok $locked, 'the lock is in Redis';

    my $r = get($B, '/login?user=mallory&pw=ok');
    is $r->{status}, 429, 'node b refuses the right password';
    is $r->{error}, 'locked_out', 'locked_out';
    ok $r->{retry} >= 59 && $r->{retry} <= 60, "Retry-After $r->{retry}";
    is get($A, '/login?user=mallory&pw=ok')->{status}, 429, 'node a too';
    is get($B, '/login?user=alice&pw=ok')->{status}, 200, 'another user logs in on node b';
};

subtest 'd. failures counted on both nodes add up: 2 on a, 1 on b lock the key' => sub {
    is get($A, '/login?user=trudy&pw=1')->{status}, 401, 'a: 401';
    is get($B, '/login?user=trudy&pw=2')->{status}, 401, 'b: 401';
    is get($A, '/login?user=trudy&pw=ok')->{status}, 200, 'not locked after 2: a admits the right password';
    is get($B, '/login?user=trudy&pw=3')->{status}, 401, 'b: 401, the third failure';
    sleep 0.1;
    my $r = get($A, '/login?user=trudy&pw=ok');
    is "$r->{status} $r->{error}", '429 locked_out', 'a: locked out';
};

# ---- e. counting never delays the response

SKIP: {
    skip 'no echo module for the slow upstream', 1 unless $ECHO;

    subtest 'e. Redis stalls while the upstream answers 401: the 401 goes out at once, and is counted when Redis resumes' => sub {
        my $logpos = length error_log($A);
        my $file = "$TMP/e.out";
        my $kid = spawn_client($file, sub {
            my ($out) = @_;
            # the lock check passes at once; the upstream then takes 0.5 s
            my $r = get($A, '/slow-login?user=slow&pw=x', {}, ua(0));
            printf $out "%s %.3f\n", $r->{status}, $r->{took};
        });
        sleep 0.25;
        redis('CLIENT', 'PAUSE', 1500, 'ALL');    # Redis stalls before the 401
        my $paused = time;
        wait_kids($kid);
        my ($status, $took) = split ' ', (lines($file))[0] // '';
        diag sprintf 'the 401 took %.0f ms, with Redis paused from 0.25 s', ($took // 0) * 1000;
        is $status, 401, '401 from the upstream';
        ok defined $took && $took < 0.9, 'answered in the upstream\'s 0.5 s, not after the pause';
        ok time - $paused < 1.2, 'before Redis resumed';

        # redis() waits for the pause to end; then the count is there
        my $count;
        for (1 .. 20) {
            $count = redis('GET', 'tenant:lockout:{slow}');
            last if defined $count;
            sleep 0.05;
        }
        is $count, 1, 'the failure was counted once Redis resumed';
        my $log = substr error_log($A), $logpos;
        unlike $log, qr/did not answer in time/, 'nothing waited for Redis';
    };
}

subtest 'f. clients that give up while their zone and lock checks wait for a stalled Redis leave nothing behind' => sub {
    redis('CLIENT', 'PAUSE', 800, 'ALL');
    my $paused = time;
    my $gone = 0;
    for my $i (1 .. 10) {
        my $n = $i % 2 ? $A : $B;
        my $path = $i % 4 < 2 ? '/zone' : "/login?user=gone$i&pw=x";
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$n->{port}", Timeout => 1)
            or next;
        print {$s} "GET $path HTTP/1.1\r\nHost: x\r\nX-Key: gone\r\n\r\n";
        sleep 0.02;
        close $s;
        $gone++;
    }
    is $gone, 10, '10 requests sent and abandoned while Redis is paused';
    sleep 0.05 while time - $paused < 1;
    # Redis is back: the replies to abandoned requests arrive and are dropped
    my $r;
    for (1 .. 40) {
        $r = get($A, '/zone', { 'X-Key' => 'after-g' });
        last if $r->{status} == 200;
        sleep 0.05;
    }
    is $r->{status}, 200, 'node a answers through its zone afterwards';
    is get($B, '/login?user=after-g&pw=ok')->{status}, 200, 'node b through its lockout';
};

subtest 'g. no worker crashed' => sub {
    for my $n ($A, $B) {
        my $log = error_log($n);
        unlike $log, qr/exited on signal/, "node $n->{name}: no worker exited on a signal";
        my @alert = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
        is scalar(@alert), 0, "node $n->{name}: no [alert], [crit] or [emerg]"
            or diag join "\n", @alert;
    }
};

note sprintf 'total %.1fs', time - $T0;
alarm 0;
done_testing();
