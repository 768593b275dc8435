package TenantMetrics;

# For the tests of tenant_metrics with several workers, reloads and a
# real Prometheus (t/601, t/602): a gateway (master, workers, daemon; under
# make test-valgrind in the foreground under memcheck, TenantValgrind)
# with Redis limits and a /metrics location, a client
# that sends one tenant's requests on fresh connections (so that both
# workers get some: the listen socket has "reuseport") and tallies what
# came back, and a parser of the text exposition.
#
#   my $gw = TenantMetrics::gateway(workers => 2, tenants => 10);
#   my $sent = TenantMetrics::send($gw, 'acme', 5);    # { admitted => 5 }
#   my $m = TenantMetrics::scrape($gw);   # { 'name{labels}' => value }

use strict;
use warnings;

use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use TenantTest ();
use TenantIdp ();
use TenantRedis ();
use TenantValgrind ();
use File::Temp ();

our $DATA = $ENV{TEST_NGINX_DATA_DIR} || TenantTest::key_path('');

my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @MODULES = $ENV{TEST_NGINX_LOAD_MODULES}
              ? grep { -f } split ' ', $ENV{TEST_NGINX_LOAD_MODULES}
              : ('/usr/lib/nginx/modules/ngx_http_echo_module.so',
                 TenantTest::key_path('../../build/ngx_http_tenant_module.so'));

# gateway(workers => 2, tenants => 100, zone => '1m', port => N): started,
# or dies with what nginx said
sub gateway {
    my (%o) = @_;
    my $gw = bless {
        port => $o{port} || TenantIdp::base() + 2,
        workers => $o{workers} || 2,
        tenants => $o{tenants} || 100,
        zone => $o{zone} || '1m',
        dir => File::Temp::tempdir('tenant-metrics-XXXXXX', TMPDIR => 1,
                                   CLEANUP => 1),
    }, 'TenantMetrics::Gateway';
    mkdir "$gw->{dir}/logs";
    chmod 0755, $gw->{dir};
    $gw->write_conf;
    my $d = $gw->{dir};
    my @cmd = ($NGINX, '-p', $d, '-c', "$d/nginx.conf",
               '-e', "$d/logs/error.log");
    if (TenantValgrind::on()) {
        # make test-valgrind: under memcheck, in the foreground
        ($gw->{pid}) = TenantValgrind::start($d,
            sub { port_open($gw->{port}) }, @cmd, '-g', 'daemon off;');
        die "gateway did not start: " . slurp("$d/logs/stderr")
            unless $gw->{pid};
    } else {
        system(join(' ', @cmd) . " 2>$d/logs/stderr") == 0
            or die "gateway did not start: " . slurp("$d/logs/stderr");
        $gw->{pid} = TenantIdp::started_pid("$d/logs/nginx.pid");
    }
    TenantIdp::wait_port($gw->{port});
    # both workers up, so that both take connections
    my $deadline = time + TenantValgrind::scaled(10);
    sleep 0.05 while (my @w = worker_pids($gw->{pid})) < $gw->{workers}
                     && time < $deadline;
    return $gw;
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return scalar(<$fh>) // '';
}

sub token { TenantTest::jwt(claims => { org_id => $_[0], @_[1 .. $#_] }) }

# send($gw, $tenant, $n, path => '/t', role => 'viewer', token => 'x'):
# n requests, each on a connection of its own; { result => count } by
# the error code of the answer ("admitted" for 200), and the workers
# that answered in $gw->{workers_seen}
sub send {
    my ($gw, $tenant, $n, %o) = @_;
    my $token = exists $o{token} ? $o{token}
              : token($tenant, $o{role} ? (role => $o{role}) : ());
    my %got;
    for (1 .. $n) {
        my $r = HTTP::Tiny->new(timeout => 10, keep_alive => 0)->get(
            "http://127.0.0.1:$gw->{port}" . ($o{path} || '/t'),
            { headers => defined $token
                         ? { Authorization => "Bearer $token" } : {} });
        my ($err) = ($r->{content} // '') =~ /"error":"([a-z_]+)"/;
        my $result = $r->{status} == 200 ? 'admitted' : $err // "status $r->{status}";
        $got{$result}++;
        $gw->{workers_seen}{ $r->{headers}{'x-worker'} }++
            if $r->{headers}{'x-worker'};
    }
    return \%got;
}

sub body {
    my ($gw) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get(
        "http://127.0.0.1:$gw->{port}/metrics");
    die "scrape: $r->{status} $r->{content}" unless $r->{status} == 200;
    return $r->{content};
}

# { 'name{labels}' => value } of every sample line
sub parse {
    my ($text) = @_;
    my %m;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/ || $line !~ /\S/;
        my ($series, $value) = $line =~ /^(\S+(?:\{.*\})?) (\S+)$/
            or die "not a sample line: $line";
        $m{$series} = $value;
    }
    return \%m;
}

sub scrape { parse(body($_[0])) }

# the tenant_requests_total samples: { tenant => { result => value } }
sub requests {
    my ($m) = @_;
    my %t;
    for my $s (keys %$m) {
        my ($tenant, $result) =
            $s =~ /^tenant_requests_total\{tenant="(.*)",result="(.*)"\}$/
            or next;
        $t{$tenant}{$result} = $m->{$s};
    }
    return \%t;
}

sub port_open {
    return !!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_[0]");
}

sub worker_pids { TenantValgrind::worker_pids($_[0]) }

# HUP, then wait (up to 30 s, scaled) until none of the old workers is
# left and as many new ones run; the new workers' pids
sub reload {
    my ($gw) = @_;
    my @old = worker_pids($gw->{pid});
    my %old = map { $_ => 1 } @old;
    kill 'HUP', $gw->{pid} or die "HUP: $!";
    my $deadline = time + TenantValgrind::scaled(30);
    while (time < $deadline) {
        my @now = worker_pids($gw->{pid});
        return @now if @now == @old && !grep { $old{$_} } @now;
        sleep 0.05;
    }
    die "the workers were not replaced within "
        . TenantValgrind::scaled(30) . " s";
}



package TenantMetrics::Gateway;

sub write_conf {
    my ($gw) = @_;
    my $d = $gw->{dir};
    my $load = join '', map { "load_module $_;\n" } @MODULES;
    my $redis = TenantRedis::redis_port();
    my $user = $> == 0 ? "user root;\n" : '';
    # make test-poll: the event method under test
    my $use = $ENV{TEST_NGINX_EVENT_TYPE} ? "use $ENV{TEST_NGINX_EVENT_TYPE};" : '';
    open my $fh, '>', "$d/nginx.conf" or die $!;
    print $fh <<"END";
${load}${user}pid $d/logs/nginx.pid;
error_log $d/logs/error.log info;
worker_processes $gw->{workers};
events { worker_connections 1024; $use }
http {
    access_log off;
    tenant_metrics_zone tenants $gw->{zone} tenants=$gw->{tenants};
    tenant_redis 127.0.0.1:$redis timeout=2s;
    tenant_plan big rate=100000r/s burst=100000 quota=999999999/day;
    tenant_default_plan big;

    server {
        listen 127.0.0.1:$gw->{port} reuseport;
        location /t {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_limit on;
            add_header X-Worker \$pid always;
            echo "tenant=\$tenant_id";
        }
        location /admin {
            tenant_jwt on;
            tenant_jwt_key_file $DATA/hmac.secret;
            tenant_require_role admin;
            add_header X-Worker \$pid always;
            echo "admin of \$tenant_id";
        }
        location = /metrics {
            tenant_metrics;
        }
    }
}
END
    close $fh;
}

sub error_log { TenantMetrics::slurp("$_[0]{dir}/logs/error.log") }

sub stop {
    my ($gw) = @_;
    my $pid = delete $gw->{pid} or return;
    return TenantIdp::stop_pid($pid) unless TenantValgrind::on();
    TenantValgrind::stop($pid, $gw->{dir}, 'gateway');
}

sub DESTROY { $_[0]->stop }

1;
