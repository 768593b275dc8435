package TenantIdp;

# For the tests of keys fetched from URLs: an identity provider on
# loopback (a plain nginx serving JWK Sets and discovery documents over
# HTTP and HTTPS, with a CA the test makes with openssl) and a gateway
# (nginx with the module) that a test starts, asks, and stops itself, so
# that the IdP's answers can change between two requests to one gateway.

use strict;
use warnings;

use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename ();
use Crypt::PK::RSA;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Test::More ();
use Time::HiRes qw(sleep);
use TenantTest ();
use TenantValgrind ();

my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $ECHO = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
my $MODULE = TenantTest::key_path('../../build/ngx_http_tenant_module.so');
# the gateway loads what the runner says (make test-asan: the ASan build)
my @MODULES = $ENV{TEST_NGINX_LOAD_MODULES}
              ? grep { -f } split ' ', $ENV{TEST_NGINX_LOAD_MODULES}
              : ($ECHO, $MODULE);
# The servers of a file take ports at fixed offsets (up to +60) from a
# base: a block of free ports, never one near TEST_NGINX_PORT, where a
# port of the machine's may be taken (2024 is, on some).
my $BASE = free_block(64);

# the block's first port: a test file takes its own ports from it too
sub base { $BASE }

# below the kernel's ephemeral ports (32768 and up by default): a client
# connection's local port there, ours or another test's, would make a
# later bind() of the block's fail
sub free_block {
    my ($n) = @_;
    my $top = 40000;
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($low) = split ' ', scalar <$fh>;
        $top = $low if $low && $low > 20000 + 10 * $n;
    }
    for (1 .. 200) {
        my $base = 20000 + int(rand($top - 20000 - $n));
        my @held;
        for my $p ($base .. $base + $n - 1) {
            my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                          LocalPort => $p, ReuseAddr => 1)
                or last;
            push @held, $s;
        }
        return $base if @held == $n;
    }
    die "no block of $n free ports";
}

my $json = JSON::PP->new->canonical(1);

# make test-valgrind: the gateways (not the IdPs, plain nginx) under
# memcheck (TenantValgrind)
our $VALGRIND = TenantValgrind::on();

sub run { system(@_) == 0 or die "@_: $?" }

# TenantIdp->new(port => N): HTTPS on N, HTTP on N + 1
sub new {
    my ($class, %o) = @_;
    my $self = bless { port => $o{port} || $BASE + 10 }, $class;
    $self->{http_port} = $self->{port} + 1;
    my $d = $self->{dir} = tempdir('tenant-idp-XXXXXX', TMPDIR => 1,
                                   CLEANUP => 1);
    make_path("$d/www", "$d/logs");
    chmod 0755, $d, "$d/www";    # nginx's workers are not root

    # a CA, and a certificate for "localhost" that it signs
    my $q = '2>/dev/null';
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca"
        . " -keyout $d/ca.key -out $d/ca.crt $q");
    run("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost"
        . " -keyout $d/server.key -out $d/server.csr $q");
    open my $fh, '>', "$d/ext" or die $!;
    print $fh "subjectAltName=DNS:localhost\n";
    close $fh;
    run("openssl x509 -req -in $d/server.csr -CA $d/ca.crt -CAkey $d/ca.key"
        . " -CAcreateserial -days 2 -extfile $d/ext -out $d/server.crt $q");

    $self->write_conf;
    $self->start;
    return $self;
}

sub ca { "$_[0]{dir}/ca.crt" }
sub url { "https://localhost:$_[0]{port}$_[1]" }
sub http_url { "http://127.0.0.1:$_[0]{http_port}$_[1]" }

sub write_conf {
    my ($self) = @_;
    my $d = $self->{dir};
    open my $fh, '>', "$d/nginx.conf" or die $!;
    print $fh <<"END";
load_module $ECHO;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log info;
events { worker_connections 256; }
http {
    log_format f '\$request_uri \$status \$msec';
    access_log $d/logs/access.log f;
    default_type application/json;
    server {
        listen 127.0.0.1:$self->{port} ssl;
        listen 127.0.0.1:$self->{http_port};
        ssl_certificate $d/server.crt;
        ssl_certificate_key $d/server.key;
        root $d/www;
        location / {
            if (-f $d/www/max-age) { add_header Cache-Control "max-age=2"; }
        }
        location = /slow.json { echo_sleep 3; echo '{"keys":[]}'; }
        location = /error.json { return 500; }
        location = /loop.json { return 302 /loop.json; }
    }
}
END
    close $fh;
}

# every nginx a test started is stopped when it ends, however it ends
my %running;
END { stop_pid($_) for keys %running }

sub stop_pid {
    my ($pid) = @_;
    delete $running{$pid};
    kill 'QUIT', $pid;
    for (1 .. 50) { return unless kill 0, $pid; sleep 0.1 }
    kill 'KILL', $pid;
}

sub started_pid {
    my ($file) = @_;
    for (1 .. 50) {
        my $pid = read_pid($file);
        if ($pid) { $running{$pid} = 1; return $pid }
        sleep 0.05;
    }
    return;
}

sub start {
    my ($self) = @_;
    run("$NGINX -p $self->{dir} -c $self->{dir}/nginx.conf "
        . "-e $self->{dir}/logs/error.log");
    $self->{pid} = started_pid("$self->{dir}/logs/nginx.pid");
    wait_port($self->{port});
}

sub stop {
    my ($self) = @_;
    stop_pid(delete $self->{pid}) if $self->{pid};
}

# publish('/jwks.json', $text): atomically, as an IdP rotates
sub publish {
    my ($self, $path, $text) = @_;
    my $f = "$self->{dir}/www$path";
    make_path(File::Basename::dirname($f));
    open my $fh, '>', "$f.tmp" or die $!;
    print $fh $text;
    close $fh;
    rename "$f.tmp", $f or die $!;
}

# jwks(kid => keyfile, ...): the public JWK Set of those RSA keys
sub jwks {
    my ($self, @pairs) = @_;
    my @keys;
    while (my ($kid, $file) = splice @pairs, 0, 2) {
        my $jwk = Crypt::PK::RSA->new(TenantTest::key_path($file))
                  ->export_key_jwk('public', 1);
        push @keys, { %$jwk, kid => $kid, use => 'sig', alg => 'RS256' };
    }
    return $json->encode({ keys => \@keys });
}

# jwk('rsa.key', kid => 'k1', ...): one public JWK of that RSA key, with
# the members an IdP adds (kid, use, alg, x5t, ...), for sets shaped as a
# given IdP publishes them: encode_json({ keys => [ $idp->jwk(...) ] })
sub jwk {
    my ($self, $file, %members) = @_;
    my $jwk = Crypt::PK::RSA->new(TenantTest::key_path($file))
              ->export_key_jwk('public', 1);
    return { %$jwk, %members };
}

sub encode_json { $json->encode($_[1]) }

sub discovery {
    my ($self, $issuer, $jwks_uri) = @_;
    return $json->encode({ issuer => $issuer, jwks_uri => $jwks_uri });
}

# how many times a path was asked for
sub fetches {
    my ($self, $path) = @_;
    open my $fh, '<', "$self->{dir}/logs/access.log" or return 0;
    return scalar grep { /^\Q$path\E / } <$fh>;
}

# when it was asked for: the IdP's times (seconds, to the millisecond)
sub fetch_times {
    my ($self, $path) = @_;
    open my $fh, '<', "$self->{dir}/logs/access.log" or return;
    return map { /^\Q$path\E \d+ ([\d.]+)$/ ? $1 : () } <$fh>;
}

sub DESTROY { $_[0]->stop }


package TenantIdp::Gateway;

# TenantIdp::Gateway->new(http => '...', workers => 2)
sub new {
    my ($class, %o) = @_;
    my $self = bless { port => $o{port} || $BASE + 2 }, $class;
    my $d = $self->{dir} = File::Temp::tempdir('tenant-gw-XXXXXX',
                                               TMPDIR => 1, CLEANUP => 1);
    mkdir "$d/logs";
    chmod 0755, $d;
    my $workers = $o{workers} || 1;
    $o{$_} //= '' for qw(http server);
    open my $fh, '>', "$d/nginx.conf" or die $!;
    my $load = join '', map { "load_module $_;\n" } @MODULES;
    # make test-poll, test-epoll: the gateway on the runner's event model
    my $use = $ENV{TEST_NGINX_EVENT_TYPE}
              ? "use $ENV{TEST_NGINX_EVENT_TYPE}; " : '';
    print $fh <<"END";
${load}pid $d/logs/nginx.pid;
error_log $d/logs/error.log ${\ ($o{log_level} || 'info')};
worker_processes $workers;
events { ${use}worker_connections 1024; }
http {
    access_log off;
    $o{http}
    server {
        listen 127.0.0.1:$self->{port};
        $o{server}
    }
}
END
    close $fh;
    return $self->start_valgrind if $VALGRIND;
    $self->{rc} = system("$NGINX -p $d -c $d/nginx.conf -e $d/logs/error.log"
                         . " 2>$d/logs/stderr");
    if ($self->{rc} == 0) {
        $self->{pid} = TenantIdp::started_pid("$d/logs/nginx.pid");
        TenantIdp::wait_port($self->{port});
    }
    return $self;
}

# Under make test-valgrind (TEST_NGINX_USE_VALGRIND) the gateway runs
# under memcheck (TenantValgrind), in the foreground; stop() fails a test
# for each report.  nginx starts in seconds there: started is when it
# listens, or has exited (a configuration it refuses).
sub start_valgrind {
    my ($self) = @_;
    my $d = $self->{dir};
    my $port = $self->{port};
    my ($pid, $rc) = TenantValgrind::start($d,
        sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") },
        $NGINX, '-p', $d, '-c', "$d/nginx.conf", '-e', "$d/logs/error.log",
        '-g', 'daemon off;');
    $self->{rc} = $pid ? 0 : $rc;
    if ($pid) {
        $self->{pid} = $pid;
        $running{$pid} = 1;
    }
    return $self;
}

sub started { $_[0]{rc} == 0 }

sub stderr {
    open my $fh, '<', "$_[0]{dir}/logs/stderr" or return '';
    local $/;
    return <$fh>;
}

# get('/t', token) -> (status, body)
sub get {
    my ($self, $path, $token) = @_;
    my $r = HTTP::Tiny->new(timeout => 20)->get(
        "http://127.0.0.1:$self->{port}$path",
        { headers => $token ? { Authorization => "Bearer $token" } : {} });
    return ($r->{status}, $r->{content});
}

sub status { ($_[0]->get($_[1], $_[2]))[0] }

sub error_log {
    open my $fh, '<', "$_[0]{dir}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return TenantIdp::stop_pid($pid) unless $VALGRIND;
    delete $running{$pid};
    TenantValgrind::stop($pid, $self->{dir}, 'gateway');
}

sub DESTROY { $_[0]->stop }


package TenantIdp;

sub read_pid {
    open my $fh, '<', $_[0] or return;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

sub wait_port {
    my ($port) = @_;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        return 1 if $s;
        sleep 0.05;
    }
    die "nothing listens on $port";
}

1;
