package TenantNginx;

# nginx instances that keep running while the test changes what is
# behind them (a DNS name moved, a Sentinel failover): what Test::Nginx
# cannot do, since it starts nginx anew for every block.  The same way
# t/105-redis-live.t runs its two nodes: master + 1 worker, daemon on, a
# prefix in a temporary directory, stopped in END (on failure too).
# Under make test-valgrind (TEST_NGINX_USE_VALGRIND) each runs under
# memcheck instead (TenantValgrind: in the foreground, the workers too),
# stopped once the test is done (done_testing) so that a memcheck report
# is a failed test of the file; waits on nginx scale with scaled().
#
#   my $n = nginx_start('a', redis => <<'_EOC_');
#       tenant_redis sentinel=mymaster timeout=100ms;
#       tenant_redis_sentinel 127.0.0.1:P1 127.0.0.1:P2 127.0.0.1:P3;
#   _EOC_
#   my $r = api($n, token('acme'));     # { status, limit, error, took, ... }
#
# "redis" is pasted at http level; every instance has the same gateway:
#   /api       tenant_jwt, tenant_limit, tenant_redis_failure allow
#   /api-deny  the same with tenant_redis_failure deny
#   /plain     no module at all
#   and what "server" adds;
# each adding X-Limit-Status ($tenant_limit_status) and X-Request-Time,
# in front of a local upstream that answers 200 (its /check: 401 unless
# ?pw=ok).  Plans: "big" (the default) and "pro" allow 100000 requests a
# second; "solo" allows 1 a minute (the second request is 429).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use TenantTest ();
use TenantValgrind qw(scaled);

use Exporter 'import';
our @EXPORT = qw(nginx_start nginx_stop error_log error_log_since
                 worker_pids api token spawn_client wait_kids result_lines
                 scaled);

our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our @MODULES = grep { -f } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
@MODULES = grep { /tenant/ || /echo/ } @MODULES;
@MODULES = (abs_path('build/ngx_http_tenant_module.so'))
    unless grep { /tenant/ } @MODULES;
our $DATA = $ENV{TEST_NGINX_DATA_DIR} || abs_path('t/data');
our $TMP = tempdir('tenant-nginx-XXXXXX', TMPDIR => 1, CLEANUP => 1);

our (%NGX, @KIDS);
my $owner = $$;

# why a file cannot run here, or undef
sub cannot_run {
    return "no nginx at $NGINX" unless -x $NGINX;
    return "no module at $MODULES[-1]" unless -f $MODULES[-1];
    return undef;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return scalar(<$in>) // '';
}

sub conf {
    my ($n) = @_;
    my $p = $n->{prefix};
    my $load = join '', map { "load_module $_;\n" } @MODULES;
    my $user = $> == 0 ? "user root;\n" : '';
    my $use = $ENV{TEST_NGINX_EVENT_TYPE}
        ? "    use $ENV{TEST_NGINX_EVENT_TYPE};\n" : '';
    my $temp = join '', map { "    ${_}_temp_path $p/tmp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    my $loc = '';
    for my $l (['/api', 'allow'], ['/api-deny', 'deny']) {
        $loc .= <<"_EOC_";
        location $l->[0] {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            tenant_redis_failure $l->[1];
            add_header X-Limit-Status \$tenant_limit_status always;
            add_header X-Request-Time \$request_time always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
_EOC_
    }
    # valgrind wants nginx in the foreground
    my $daemon = TenantValgrind::on() ? 'off' : 'on';
    return <<"_EOC_";
${load}${user}master_process on;
worker_processes $n->{workers};
daemon $daemon;
error_log $p/logs/error.log $n->{log_level};
pid $p/logs/nginx.pid;

events {
    worker_connections 1024;
$use}

http {
    access_log off;
$temp
$n->{redis}
    tenant_plan big rate=100000r/s burst=100000 quota=999999999/day;
    tenant_plan pro rate=100000r/s burst=100000 quota=999999999/day;
    tenant_plan solo rate=1r/m;
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
        location /check {
            if (\$arg_pw != "ok") {
                return 401 "wrong password\\n";
            }
            return 200 "welcome\\n";
        }
    }

    server {
        listen 127.0.0.1:$n->{port};
$loc$n->{server}
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

# nginx_start($name, redis => $http_level_text, log_level => 'info',
#             workers => 1, server => $text_in_the_server_block)
sub nginx_start {
    my ($name, %o) = @_;
    my $n = $NGX{$name} = {
        name => $name, prefix => "$TMP/$name", port => free_port(),
        uport => free_port(), log_level => $o{log_level} || 'info',
        workers => $o{workers} || 1, server => $o{server} // '',
        redis => $o{redis} // die "nginx_start: no redis configuration",
    };
    make_path("$n->{prefix}/$_") for qw(conf logs tmp);
    open my $fh, '>', "$n->{prefix}/conf/nginx.conf" or die $!;
    print $fh conf($n);
    close $fh;

    my @cmd = ($NGINX, '-p', "$n->{prefix}/",
               '-c', "$n->{prefix}/conf/nginx.conf",
               '-e', "$n->{prefix}/logs/error.log");
    if (TenantValgrind::on()) {
        my ($pid) = TenantValgrind::start($n->{prefix},
            sub { port_open($n->{port}) && worker_pids({ master => $_[0] }) },
            @cmd);
        die "nginx $name did not start: " . error_log($n) unless $pid;
        $n->{master} = $pid;
    } else {
        system(@cmd) == 0
            or die "nginx $name did not start: " . error_log($n);
        for (1 .. 100) {
            ($n->{master}) = slurp("$n->{prefix}/logs/nginx.pid") =~ /(\d+)/;
            last if $n->{master} && port_open($n->{port}) && worker_pids($n);
            sleep 0.05;
        }
    }
    die "nginx $name is not listening on $n->{port}" unless port_open($n->{port});
    return $n;
}

sub nginx_stop {
    my ($n) = @_;
    my $pid = $n->{master} or return;
    if (TenantValgrind::on()) {
        delete $n->{master};    # reaped: its pid may be another's
        return TenantValgrind::stop($pid, $n->{prefix}, "nginx $n->{name}");
    }
    return unless kill 0, $pid;
    kill 'QUIT', $pid;
    for (1 .. 60) { return unless kill 0, $pid; sleep 0.05 }
    kill 'TERM', $pid;
    for (1 .. 20) { return unless kill 0, $pid; sleep 0.05 }
    kill 'KILL', $pid;
}

# under memcheck, the running instances are stopped when the test is
# done, before its plan: their reports are its last tests
if (TenantValgrind::on()) {
    require Test2::API;
    Test2::API::test2_add_callback_testing_done(sub {
        nginx_stop($_) for grep { $owner == $$ } values %NGX;
    });
}

sub worker_pids { TenantValgrind::worker_pids($_[0]{master}) }

sub error_log { slurp("$_[0]{prefix}/logs/error.log") }

# what the error log gained since $pos (a length of error_log() before)
sub error_log_since { substr error_log($_[0]), $_[1] }

# ---- HTTP

my %UA;

sub ua {
    HTTP::Tiny->new(keep_alive => $_[0] ? 1 : 0, timeout => scaled(5),
                    agent => 'tenant-topology-test');
}

# api($n, $token, path => '/api', ua => $ua): { status, limit, error,
# took (client side, s), body }
sub api {
    my ($n, $token, %o) = @_;
    my $ua = $o{ua} || ($UA{$n->{name}} ||= ua(1));
    my $t = time;
    my $r = $ua->get("http://127.0.0.1:$n->{port}" . ($o{path} || '/api'),
                     { headers => { Authorization => "Bearer $token" } });
    my ($err) = ($r->{content} // '') =~ /"error":"([a-z_]+)"/;
    return {
        status => $r->{status},
        limit  => $r->{headers}{'x-limit-status'} // '',
        error  => $err // '',
        took   => time - $t,
        body   => $r->{content} // '',
        at     => time,
    };
}

sub token {
    TenantTest::jwt(claims => { org_id => $_[0], plan => $_[1] || 'big' })
}

# ---- clients in forked children, results one line a request in a file

sub spawn_client {
    my ($file, $code) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        alarm 60;
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
    my $deadline = time + 60;
    for my $pid (@_) {
        while (waitpid($pid, WNOHANG) == 0) {
            if (time > $deadline) { kill 'KILL', $pid; waitpid($pid, 0); last }
            sleep 0.05;
        }
    }
}

sub result_lines { map { [split ' '] } grep { /\S/ } split /\n/, slurp($_[0]) }

END {
    local $?;
    if ($$ == $owner) {
        kill 'KILL', $_ for grep { waitpid($_, WNOHANG) == 0 } @KIDS;
        nginx_stop($_) for values %NGX;
    }
}

1;
