# A real Prometheus (Debian's package "prometheus") scrapes tenant_metrics
# every second, and its HTTP API answers the per-tenant values the gateway
# counted.  Prometheus runs on a free loopback port with a data directory
# of its own in the servroot, and is stopped when the file ends, however
# it ends.  Nothing waits a fixed time: the API is polled until the sample
# is there, with a generous deadline.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use TenantTest;
use TenantRedis;
use TenantIdp ();
use TenantMetrics;

$SIG{ALRM} = sub { die "602-metrics-prometheus.t: time limit (240 s) reached\n" };
alarm 240;

my $PROMETHEUS = '/usr/bin/prometheus';
plan skip_all => "no $PROMETHEUS (apt-get install prometheus)"
    unless -x $PROMETHEUS;

my $servroot = $ENV{TEST_NGINX_SERVROOT} || abs_path('t') . '/servroot';
my $dir = "$servroot/prometheus-$$";
remove_tree($dir);
make_path("$dir/data");

my $gw = TenantMetrics::gateway(workers => 2, tenants => 100,
                                port => TenantIdp::base() + 4);
my $port = TenantIdp::base() + 5;

open my $fh, '>', "$dir/prometheus.yml" or die $!;
print $fh <<"END";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tenant-gateway
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$gw->{port}']
END
close $fh;

is system("/usr/bin/promtool check config $dir/prometheus.yml"
          . " > $dir/promtool.log 2>&1"), 0,
   'promtool check config accepts the scrape configuration';

my $prom = fork // die "fork: $!";
if ($prom == 0) {
    open STDOUT, '>', "$dir/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    POSIX::setsid();
    exec($PROMETHEUS, "--config.file=$dir/prometheus.yml",
         "--storage.tsdb.path=$dir/data",
         "--web.listen-address=127.0.0.1:$port",
         '--storage.tsdb.retention.time=1h') or POSIX::_exit(127);
}
my $owner = $$;
END {
    if ($$ == $owner && $prom) {
        kill 'TERM', $prom;
        waitpid $prom, 0;
        remove_tree($dir) if Test::More->builder->is_passing;
    }
}

my $http = HTTP::Tiny->new(timeout => 5);
my $json = JSON::PP->new;

# query($promql): the value of its one sample, or undef while there is none
sub query {
    my ($q) = @_;
    my $r = $http->get("http://127.0.0.1:$port/api/v1/query?query="
                       . URI_escape($q));
    return undef unless $r->{success};
    my $d = eval { $json->decode($r->{content}) } or return undef;
    my $res = $d->{data}{result} || [];
    return @$res == 1 ? $res->[0]{value}[1] : undef;
}

sub URI_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# poll until query($q) is $want, or passes $want if it is code (60 s at
# most); the last value seen
sub wait_for {
    my ($q, $want) = @_;
    my $deadline = time + 60;
    my $got;
    while (time < $deadline) {
        $got = query($q);
        return $got if defined $got
                       && (ref $want ? $want->($got) : $got eq $want);
        sleep 0.25;
    }
    diag "prometheus log:\n" . TenantMetrics::slurp("$dir/prometheus.log")
        unless defined $got;
    return $got;
}

my $acme = TenantMetrics::send($gw, 'acme', 7);
my $globex = TenantMetrics::send($gw, 'globex', 3, path => '/admin',
                                 role => 'viewer');
is_deeply [ $acme, $globex ],
          [ { admitted => 7 }, { insufficient_role => 3 } ],
          'the gateway answered as configured';

is wait_for('tenant_requests_total{tenant="acme",result="admitted"}', 7), 7,
   'Prometheus has acme\'s 7 admitted requests';
is wait_for('tenant_requests_total{tenant="globex",result="insufficient_role"}',
            3), 3,
   'and globex\'s 3 refusals, under their error code';
is wait_for('up{job="tenant-gateway"}', 1), 1, 'the target is up';
is wait_for('tenant_redis_up', 1), 1, 'tenant_redis_up is 1';

# more requests: a later scrape brings them
TenantMetrics::send($gw, 'acme', 5);
is wait_for('tenant_requests_total{tenant="acme",result="admitted"}', 12),
   12, 'five more, seen at a later scrape';
is wait_for('sum(tenant_redis_requests_total{result="ok"})', 12), 12,
   'one EVALSHA each, summed by PromQL';
is wait_for('tenant_redis_request_duration_seconds_count', 12), 12,
   'the histogram is a histogram to Prometheus: its count';
my $median = wait_for('histogram_quantile(0.5, '
                      . 'tenant_redis_request_duration_seconds_bucket)',
                      sub { $_[0] =~ /^[0-9.e-]+$/ && $_[0] > 0 });
ok defined $median && $median > 0 && $median <= 1,
   'histogram_quantile() over its buckets: a median of '
   . ($median // 'none') . ' s';

$gw->stop;
done_testing;
