package TenantTopology;

# Redis topologies for the 4xx tests: TLS, ACL users, a DNS server, a
# Sentinel group.  Like TenantRedis, everything is started once per test
# FILE, when the file loads this module, on free loopback ports in a
# temporary directory, and stopped when that file ends (END, in the
# process that started it; the runner's forked children leave it alone).
# A file names what it needs:
#
#   use TenantTopology qw(tls acl);        # or dns twins sentinel
#
#   tls       a test CA and certificates made with the openssl CLI, and
#             five TLS-only redis-servers (--port 0 --tls-port P):
#               tls          server.crt (redis.test, 127.0.0.1), by the CA
#               tls_expired  expired.crt, same names, by the CA, expired
#               tls_other_ca other.crt, same names, by an unrelated CA
#               tls_wrong    wrong.crt (wrong.test, 127.0.0.9), by the CA
#               tls_mutual   server.crt, --tls-auth-clients yes
#   acl       a plain redis-server whose default user needs a password
#             (requirepass), with the users below
#   dns       a DNS server (Net::DNS::Nameserver, forked) on a free UDP
#             port of 127.0.0.1: A records, TTL 1, from a mapping the
#             test changes with dns_set() (re-read at every query)
#   twins     two redis-servers on the SAME port, one on 127.0.0.1 and one
#             on 127.0.0.2 (twin1, twin2)
#   sentinel  a master (node1), its replica (node2) and three Sentinels
#             monitoring it as "mymaster", quorum 2,
#             down-after-milliseconds 1000, failover-timeout 3000
#
# Every redis-server (not the Sentinels) has the users "gateway", with
# exactly the rights the module needs ($GATEWAY_ACL), and "noevalsha",
# the same without EVALSHA.
#
# The nginx configuration finds all of it in TEST_NGINX_* variables (the
# names are listed by env_names(), below the code that sets them).
#
# State is set from a block with a "--- topology" section, one command a
# line, prefixed by the server's name (topology_block is the block
# preprocessor):
#
#   --- topology
#   tls: FLUSHALL
#   tls: HSET tenant:{acme} status suspended
#
# and from Perl with rcmd('tls', 'HSET', ...).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Exporter ();
our @ISA = qw(Exporter);
our @EXPORT = qw(
    $GATEWAY_ACL $NOEVALSHA_ACL $SENTINEL_ACL
    rcmd rcmd_as rtry module_script server port_of server_start server_stop servers
    redis_info_field redis_role commandstats cmd_calls
    dns_set dns_port dns_queries
    sentinel_ports sentinel_master sentinel_wait_ready sentinel_failover
    sentinel_wait_switched sentinel_settle sentinel_repoint node_at
    wait_until topology_block tls_dir
);

# The rights the gateway's Redis user needs, and no more.  The module
# sends AUTH (always allowed), SELECT, SCRIPT LOAD, EVALSHA and, when
# the script is missing, EVAL; since Redis 7 every command a script calls
# is checked against the calling user's rights too (and every key it
# touches against the key patterns), so the script's own commands are in
# the rule: TIME, GET, MGET, HGET, HMGET, EXISTS, PTTL to read; SET,
# INCR, HINCRBY (usage), PEXPIRE, EXPIREAT, DEL to write; HGETALL and
# SCAN for tenant_usage.  The keys all start with the
# tenant_redis prefix= (tenant: by default); no Pub/Sub channel.
# PING is what a client checks a connection with.
our $GATEWAY_ACL = '~tenant:* resetchannels -@all'
    . ' +evalsha +eval +script|load +select +ping'
    . ' +time +get +mget +hget +hmget +exists +pttl'
    . ' +set +incr +hincrby +pexpire +expireat +del +hgetall +scan'
    . ' +incrby +decrby';

# A user the gateway cannot decide with: everything but EVALSHA
# (SCRIPT LOAD and EVAL are left, so falling back to EVAL on NOPERM
# would show).
(our $NOEVALSHA_ACL = $GATEWAY_ACL) =~ s/ \+evalsha//;

# What a Sentinel user needs to answer the gateway: the master's address
# and the +switch-master messages (SUBSCRIBE to that channel).
our $SENTINEL_ACL = 'resetchannels &+switch-master -@all'
    . ' +ping +subscribe +sentinel|get-master-addr-by-name';

our %USERS = (
    gateway   => 'gw-Secret-7f2a',
    noevalsha => 'ne-Secret-91c4',
);
our %PASSWORD = %USERS;
our $ADMIN_PASSWORD = 'adm-Secret-3d8e';    # the acl server's default user
our $MASTER_NAME = 'mymaster';

our $DIR = tempdir('tenant-topology-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our %SERVER;          # name => { host, port, tls, kind, conf, ... }
our @ORDER;           # names, in the order started
my $owner = $$;
my ($dns_pid, $dns_port, %started);

sub import {
    my ($class, @what) = @_;
    my @known = qw(tls acl dns twins sentinel);
    for my $w (@what) {
        die "TenantTopology: unknown part \"$w\" (@known)\n"
            unless grep { $_ eq $w } @known;
        next if $started{$w}++;
        my $start = \&{"start_$w"};
        $start->();
    }
    __PACKAGE__->export_to_level(1, $class, @EXPORT);
}

# ---- small things

sub free_port {
    my ($udp) = @_;
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => $udp ? 'udp' : 'tcp',
                                      $udp ? () : (Listen => 1))
            or die "no free port: $!";
        my $p = $s->sockport;
        close $s;
        # the twins need the port free on 127.0.0.2 too
        my $t = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => $p,
                                      Proto => $udp ? 'udp' : 'tcp',
                                      $udp ? () : (Listen => 1));
        next unless $t;
        close $t;
        return $p;
    }
    die "no port free on both 127.0.0.1 and 127.0.0.2";
}

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return scalar(<$in>) // '';
}

sub spew {
    my ($file, $text) = @_;
    open my $out, '>', $file or die "$file: $!";
    print {$out} $text;
    close $out or die "$file: $!";
}

# wait_until($seconds, sub { ... }): polls every 20ms until the code
# returns true (that value is returned) or the time is up (undef).
sub wait_until {
    my ($limit, $code, $every) = @_;
    my $end = time + $limit;
    while (1) {
        my $v = eval { $code->() };
        return $v if $v;
        return undef if time > $end;
        sleep($every || 0.02);
    }
}

sub tls_dir { "$DIR/tls" }

# ---- certificates (openssl CLI)

sub openssl {
    my @cmd = ('openssl', @_);
    my $out = `cd '$DIR/tls' && @{[ map { "'$_'" } @cmd ]} 2>&1`;
    die "openssl @_ failed:\n$out" if $?;
    return $out;
}

sub make_key_csr {
    my ($name, $cn) = @_;
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', "$name.key", '-out', "$name.csr", '-subj', "/CN=$cn");
}

sub make_ca {
    my ($name, $cn) = @_;
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
            '-keyout', "$name.key", '-out', "$name.crt", '-subj', "/CN=$cn",
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    # "openssl ca" keeps a database; the expired certificate needs it
    # (x509 -req cannot set a start date in the past)
    make_path("$DIR/tls/$name.db");
    spew("$DIR/tls/$name.db/index.txt", '');
    spew("$DIR/tls/$name.db/serial", "1000\n");
    spew("$DIR/tls/$name.cnf", <<"_EOC_");
[ca]
default_ca = this
[this]
database = $DIR/tls/$name.db/index.txt
new_certs_dir = $DIR/tls/$name.db
serial = $DIR/tls/$name.db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
_EOC_
}

# sign($ca, $name, $cn, $san, $usage, [$start, $end]): $name.crt
sub sign {
    my ($ca, $name, $cn, $san, $usage, $start, $end) = @_;
    make_key_csr($name, $cn);
    my $ext = "$DIR/tls/$name.ext";
    spew($ext, join "\n", 'basicConstraints=critical,CA:FALSE',
         'keyUsage=critical,digitalSignature,keyEncipherment',
         "extendedKeyUsage=$usage", ($san ? "subjectAltName=$san" : ()), '');
    openssl('ca', '-batch', '-notext', '-config', "$ca.cnf",
            '-cert', "$ca.crt", '-keyfile', "$ca.key",
            '-in', "$name.csr", '-out', "$name.crt", '-extfile', $ext,
            $start ? ('-startdate', $start, '-enddate', $end)
                   : ('-days', '3650'));
}

sub make_certs {
    make_path("$DIR/tls");
    make_ca('ca', 'Tenant Test CA');
    make_ca('other-ca', 'Unrelated Test CA');
    my $san = 'DNS:redis.test,IP:127.0.0.1';
    sign('ca', 'server', 'redis.test', $san, 'serverAuth');
    sign('ca', 'expired', 'redis.test', $san, 'serverAuth',
         '20200101000000Z', '20200201000000Z');
    sign('other-ca', 'other', 'redis.test', $san, 'serverAuth');
    sign('ca', 'wrong', 'wrong.test', 'DNS:wrong.test,IP:127.0.0.9',
         'serverAuth');
    sign('ca', 'client', 'gateway', '', 'clientAuth');
    chmod 0644, glob "$DIR/tls/*.key";    # nginx workers may be nobody

    my $t = "$DIR/tls";
    %ENV = (%ENV,
        TEST_NGINX_TLS_DIR         => $t,
        TEST_NGINX_TLS_CA          => "$t/ca.crt",
        TEST_NGINX_TLS_OTHER_CA    => "$t/other-ca.crt",
        TEST_NGINX_TLS_CLIENT_CERT => "$t/client.crt",
        TEST_NGINX_TLS_CLIENT_KEY  => "$t/client.key",
        # the server's own, for a test that wants to present it
        TEST_NGINX_TLS_SERVER_CERT => "$t/server.crt",
        TEST_NGINX_TLS_SERVER_KEY  => "$t/server.key",
    );
}

# ---- redis-server

# server_start(name => 'x', host => '127.0.0.1', port => P,
#              tls => { cert => 'server', auth_clients => 'no' },
#              password => 'for the default user', replicaof => [h, p])
sub server_start {
    my (%o) = @_;
    my $name = $o{name} or die 'server_start: no name';
    my $s = $SERVER{$name} ||= do { push @ORDER, $name; {} };
    %$s = (%$s, %o) if keys %o > 1 || !$s->{port};
    $s->{host} ||= '127.0.0.1';
    $s->{port} ||= free_port();
    $s->{kind} ||= 'redis';
    my $d = "$DIR/srv-$name";
    make_path($d);
    $s->{dir} = $d;
    $s->{pidfile} = "$d/server.pid";
    $s->{log} = "$d/server.log";

    my @conf = (
        "bind $s->{host}",
        "dir $d",
        "pidfile $s->{pidfile}",
        "logfile $s->{log}",
        'daemonize yes',
        'save ""',
        'appendonly no',
    );
    if (my $t = $s->{tls}) {
        my $c = $t->{cert} || 'server';
        push @conf, 'port 0', "tls-port $s->{port}",
             "tls-cert-file $DIR/tls/$c.crt", "tls-key-file $DIR/tls/$c.key",
             "tls-ca-cert-file $DIR/tls/ca.crt",
             'tls-auth-clients ' . ($t->{auth_clients} || 'no');
    } else {
        push @conf, "port $s->{port}";
    }
    if ($s->{kind} eq 'sentinel') {
        push @conf, @{ $s->{sentinel_conf} || [] };
    } else {
        push @conf, 'user default on '
            . (defined $s->{password} ? ">$s->{password}" : 'nopass')
            . ' ~* &* +@all';
        push @conf, "user gateway on >$USERS{gateway} $GATEWAY_ACL";
        push @conf, "user noevalsha on >$USERS{noevalsha} $NOEVALSHA_ACL";
        push @conf, "replicaof @{ $s->{replicaof} }" if $s->{replicaof};
        push @conf, "repl-ping-replica-period 1", 'repl-timeout 5';
    }
    $s->{conf} = "$d/$s->{kind}.conf";
    # a Sentinel rewrites its file: keep it as it is when restarted
    spew($s->{conf}, join "\n", @conf, '') unless $s->{kind} eq 'sentinel'
                                                  && -s $s->{conf};

    my @bin = $s->{kind} eq 'sentinel'
        ? (-x '/usr/bin/redis-sentinel' ? ('redis-sentinel', $s->{conf})
                                        : ('redis-server', $s->{conf}, '--sentinel'))
        : ('redis-server', $s->{conf});
    system(@bin) == 0
        or die "cannot start @bin (apt-get install redis-server redis-sentinel)";
    my $up = wait_until(5, sub { (rtry($name, 'PING'))[0] });
    die "$s->{kind} $name did not come up on $s->{host}:$s->{port}:\n"
        . slurp($s->{log}) unless $up;
    return $s;
}

sub server_stop {
    my ($name) = @_;
    my $s = $SERVER{$name} or return;
    my ($pid) = slurp($s->{pidfile}) =~ /(\d+)/;
    rtry($name, 'SHUTDOWN', $s->{kind} eq 'sentinel' ? () : 'NOSAVE');
    return unless $pid;
    for (1 .. 250) { return unless alive($pid); sleep 0.02 }
    kill 'KILL', $pid;
}

# a zombie (exited, not yet reaped by whoever adopted it) counts as gone
sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my ($state) = slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) (\S)/;
    return defined $state && $state ne 'Z';
}

sub server { $SERVER{$_[0]} or die "no server \"$_[0]\"" }
sub port_of { server($_[0])->{port} }
sub servers { @ORDER }

# the name of the server listening at host:port (Sentinel's answers)
sub node_at {
    my ($addr) = @_;
    $addr = join ':', @$addr if ref $addr;
    my ($n) = grep { "$SERVER{$_}{host}:$SERVER{$_}{port}" eq $addr } @ORDER;
    return $n;
}

# ---- RESP over a fresh connection (TCP or TLS)

sub connect_to {
    my ($s) = @_;
    my %a = (PeerAddr => $s->{host}, PeerPort => $s->{port}, Timeout => 3);
    return IO::Socket::INET->new(%a) unless $s->{tls};
    return IO::Socket::SSL->new(
        %a,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        SSL_cert_file   => "$DIR/tls/client.crt",
        SSL_key_file    => "$DIR/tls/client.key",
    );
}

# rcmd($name, @command): the reply (arrays as array refs); dies on an
# error reply or when the server cannot be reached.  The server's
# default user is used (with its password when it has one).
sub rcmd {
    my ($name, @args) = @_;
    my $s = server($name);
    my $sock = connect_to($s)
        or die "cannot connect to $name ($s->{host}:$s->{port}): "
               . ($s->{tls} ? IO::Socket::SSL::errstr() : $!) . "\n";
    my @cmds = ([@args]);
    unshift @cmds, ['AUTH', $s->{password}] if defined $s->{password};
    for my $c (@cmds) {
        my $req = '*' . @$c . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
        print {$sock} $req;
    }
    my $r;
    $r = read_reply($sock) for @cmds;
    close $sock;
    return $r;
}

# rcmd_as($name, $user, $password, @command): the reply as that user
# (AUTH user password first), or "error: ..." for an error reply
sub rcmd_as {
    my ($name, $user, $password, @args) = @_;
    my $sock = connect_to(server($name)) or die "cannot connect to $name\n";
    for my $c (['AUTH', $user, $password], [@args]) {
        print {$sock} '*' . @$c . "\r\n"
            . join '', map { '$' . length($_) . "\r\n$_\r\n" } @$c;
    }
    my @r = map { my $r = eval { read_reply($sock) }; $@ ? "error: $@" =~ s/\n\z//r : $r } 1, 2;
    close $sock;
    return $r[0] =~ /^error: / ? $r[0] : $r[1];
}

# the module's Lua script, as its C source holds it
sub module_script {
    my $file = shift || 'ngx_tenant_module/ngx_http_tenant_script.c';
    open my $f, '<', $file or die "$file: $!";
    my $src = do { local $/; <$f> };
    my ($lit) = $src =~ /script_source\[\] =\s*(.*?);\s*\n/s
        or die "$file: no script_source";
    return join '', map { s/\\n/\n/gr =~ s/\\"/"/gr =~ s/\\\\/\\/gr }
                    $lit =~ /^"(.*)"\s*$/mg;
}

# rtry: as rcmd, but returns ($reply, $error) instead of dying
sub rtry {
    my @r = eval { rcmd(@_) };
    return $@ ? (undef, $@ =~ s/\n\z//r) : ($r[0] // '', undef);
}

sub read_reply {
    my ($sock) = @_;
    my $line = <$sock>;
    die "the server closed the connection\n" unless defined $line;
    $line =~ s/\r\n\z//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' or $t eq ':';
    die "redis error: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my ($buf, $got) = ('', 0);
        while ($got < $v + 2) {
            my $n = read($sock, $buf, $v + 2 - $got, $got);
            die "short read\n" unless $n;
            $got += $n;
        }
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { read_reply($sock) } 1 .. $v ];
    }
    die "unexpected reply: $line\n";
}

sub redis_info_field {
    my ($name, $section, $field) = @_;
    my $info = rcmd($name, 'INFO', $section);
    return $info =~ /^\Q$field\E:(.*?)\r?$/m ? $1 : undef;
}

# "master" or "slave"; undef when the server does not answer
sub redis_role {
    my ($r) = rtry($_[0], 'INFO', 'replication');
    return $r && $r =~ /^role:(\w+)/m ? $1 : undef;
}

# INFO commandstats as { cmd => { calls => N, failed_calls => N, ... } }
sub commandstats {
    my %s;
    for (split /\r?\n/, rcmd($_[0], 'INFO', 'commandstats')) {
        next unless /^cmdstat_([^:]+):(.*)/;
        my ($cmd, $kv) = ($1, $2);
        $s{$cmd} = { map { split /=/, $_, 2 } split /,/, $kv };
    }
    return \%s;
}

# cmd_calls($name, qw(evalsha eval)): their calls added up
sub cmd_calls {
    my ($name, @cmds) = @_;
    my $s = commandstats($name);
    my $n = 0;
    $n += ($s->{$_} && $s->{$_}{calls}) || 0 for @cmds;
    return $n;
}

# ---- the parts

sub start_tls {
    make_certs();
    server_start(name => 'tls', tls => { cert => 'server' });
    server_start(name => 'tls_expired', tls => { cert => 'expired' });
    server_start(name => 'tls_other_ca', tls => { cert => 'other' });
    server_start(name => 'tls_wrong', tls => { cert => 'wrong' });
    server_start(name => 'tls_mutual',
                 tls => { cert => 'server', auth_clients => 'yes' });
    %ENV = (%ENV,
        TEST_NGINX_TLS_PORT          => port_of('tls'),
        TEST_NGINX_TLS_EXPIRED_PORT  => port_of('tls_expired'),
        TEST_NGINX_TLS_OTHER_CA_PORT => port_of('tls_other_ca'),
        TEST_NGINX_TLS_WRONG_PORT    => port_of('tls_wrong'),
        TEST_NGINX_TLS_MUTUAL_PORT   => port_of('tls_mutual'),
    );
    acl_env();
}

sub acl_env {
    %ENV = (%ENV,
        TEST_NGINX_ACL_USER               => 'gateway',
        TEST_NGINX_ACL_PASSWORD           => $USERS{gateway},
        TEST_NGINX_ACL_NOEVALSHA_USER     => 'noevalsha',
        TEST_NGINX_ACL_NOEVALSHA_PASSWORD => $USERS{noevalsha},
    );
}

sub start_acl {
    server_start(name => 'acl', password => $ADMIN_PASSWORD);
    $ENV{TEST_NGINX_ACL_PORT} = port_of('acl');
    $ENV{TEST_NGINX_ACL_DEFAULT_PASSWORD} = $ADMIN_PASSWORD;
    acl_env();
}

sub start_twins {
    my $p = free_port();
    server_start(name => 'twin1', host => '127.0.0.1', port => $p);
    server_start(name => 'twin2', host => '127.0.0.2', port => $p);
    $ENV{TEST_NGINX_TWIN_PORT} = $p;
}

# ---- DNS

sub dns_port { $dns_port }

# dns_set('redis.test' => '127.0.0.2', ...): the A records from now on
# (a name mapped to undef answers NXDOMAIN; several addresses with
# an array ref)
my %dns_map;
sub dns_set {
    my (%m) = @_;
    %dns_map = (%dns_map, %m);
    my $text = '';
    for my $n (sort keys %dns_map) {
        my $a = $dns_map{$n} // next;
        $text .= lc($n) . " $_\n" for ref $a ? @$a : $a;
    }
    spew("$DIR/dns.map.tmp", $text);
    rename "$DIR/dns.map.tmp", "$DIR/dns.map" or die $!;
}

# the queries answered so far: [ [name, type, rcode, answer...], ... ]
sub dns_queries {
    return [ map { [split ' '] } grep { /\S/ } split /\n/, slurp("$DIR/dns.log") ];
}

sub start_dns {
    require Net::DNS;
    require Net::DNS::Nameserver;
    $dns_port = free_port('udp');
    dns_set('redis.test' => '127.0.0.1');
    spew("$DIR/dns.log", '');
    my $map = "$DIR/dns.map";
    my $log = "$DIR/dns.log";
    my $reply = sub {
        my ($qname, $qclass, $qtype) = @_;
        my %a;
        for (split /\n/, slurp($map)) {
            my ($n, $ip) = split ' ';
            push @{ $a{$n} }, $ip if $n;
        }
        my $n = lc $qname;
        $n =~ s/\.\z//;
        my ($rcode, @ans) = ('NXDOMAIN');
        if ($a{$n}) {
            $rcode = 'NOERROR';
            @ans = map { Net::DNS::RR->new("$n. 1 IN A $_") } @{ $a{$n} }
                if $qtype eq 'A';
        }
        if (open my $l, '>>', $log) {
            print {$l} join(' ', $n, $qtype, $rcode,
                            map { $_->address } @ans), "\n";
            close $l;
        }
        return ($rcode, \@ans, [], [], { aa => 1 });
    };
    my $ns = Net::DNS::Nameserver->new(
        LocalAddr => ['127.0.0.1'], LocalPort => $dns_port, Proto => 'udp',
        ReplyHandler => $reply, Verbose => 0, Truncate => 0,
    ) or die "cannot start the DNS server on 127.0.0.1:$dns_port";
    my $parent = $$;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        alarm 0;
        # ends with the test, even one killed before its END
        eval { $ns->loop_once(0.2) while getppid() == $parent };
        POSIX::_exit(0);
    }
    $dns_pid = $pid;
    undef $ns;
    $ENV{TEST_NGINX_DNS_PORT} = $dns_port;
    my $ok = wait_until(5, sub {
        my $r = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'],
                                        port => $dns_port, recurse => 0,
                                        udp_timeout => 1, retry => 1);
        my $p = $r->send('redis.test', 'A');
        $p && ($p->answer)[0];
    });
    die "the DNS server on 127.0.0.1:$dns_port does not answer" unless $ok;
    spew($log, '');
}

# ---- Sentinel

sub sentinel_ports { map { port_of("sentinel$_") } 1 .. 3 }

sub start_sentinel {
    server_start(name => 'node1');
    server_start(name => 'node2',
                 replicaof => ['127.0.0.1', port_of('node1')]);
    for my $i (1 .. 3) {
        my $port = free_port();
        server_start(name => "sentinel$i", kind => 'sentinel', port => $port,
            sentinel_conf => [
                'sentinel resolve-hostnames no',
                "sentinel monitor $MASTER_NAME 127.0.0.1 "
                    . port_of('node1') . ' 2',
                sentinel_tuning(),
            ]);
    }
    %ENV = (%ENV,
        TEST_NGINX_SENTINEL_MASTER_NAME => $MASTER_NAME,
        TEST_NGINX_SENTINEL_PORT1 => port_of('sentinel1'),
        TEST_NGINX_SENTINEL_PORT2 => port_of('sentinel2'),
        TEST_NGINX_SENTINEL_PORT3 => port_of('sentinel3'),
        TEST_NGINX_SENTINEL_NODE1_PORT => port_of('node1'),
        TEST_NGINX_SENTINEL_NODE2_PORT => port_of('node2'),
    );
    sentinel_wait_ready(30)
        or die "the Sentinels did not settle:\n" . sentinel_state();
}

sub sentinel_tuning {
    return ("sentinel down-after-milliseconds $MASTER_NAME 1000",
            "sentinel failover-timeout $MASTER_NAME 3000",
            "sentinel parallel-syncs $MASTER_NAME 1");
}

# the master's address as every Sentinel gives it ("127.0.0.1:P"), or
# undef while they disagree or one does not answer
sub sentinel_master {
    my %seen;
    for my $i (1 .. 3) {
        my ($a) = rtry("sentinel$i", 'SENTINEL', 'get-master-addr-by-name',
                       $MASTER_NAME);
        return undef unless ref $a && @$a == 2;
        $seen{"$a->[0]:$a->[1]"}++;
    }
    my @m = keys %seen;
    return @m == 1 ? $m[0] : undef;
}

sub sentinel_state {
    join '', map {
        my ($m) = rtry("sentinel$_", 'SENTINEL', 'master', $MASTER_NAME);
        my %h = ref $m ? @$m : ();
        "sentinel$_: master $h{ip}:$h{port} flags=$h{flags} "
        . "replicas=$h{'num-slaves'} sentinels=$h{'num-other-sentinels'}\n"
    } 1 .. 3;
}

# Ready for a failover: every Sentinel agrees on the master, knows the
# two others and one replica whose link to the master is up, and the
# replica has caught up.
sub sentinel_wait_ready {
    my ($limit) = @_;
    return wait_until($limit || 30, sub {
        my $m = sentinel_master() or return;
        for my $i (1 .. 3) {
            my ($h) = rtry("sentinel$i", 'SENTINEL', 'master', $MASTER_NAME);
            my %h = ref $h ? @$h : ();
            return unless ($h{'num-other-sentinels'} // 0) == 2
                       && ($h{'num-slaves'} // 0) >= 1
                       && ($h{flags} // '') eq 'master';
            my ($r) = rtry("sentinel$i", 'SENTINEL', 'replicas', $MASTER_NAME);
            return unless ref $r && grep {
                my %s = @$_;
                $s{flags} eq 'slave' && $s{'master-link-status'} eq 'ok'
            } @$r;
        }
        my $master = node_at($m) or return;
        my ($replica) = grep { $_ ne $master } qw(node1 node2);
        return unless (redis_info_field($replica, 'replication',
                                        'master_link_status') // '') eq 'up';
        return $m;
    }, 0.1);
}

# SENTINEL FAILOVER: returns the name of the old master
sub sentinel_failover {
    my $old = node_at(sentinel_master() // die "no master agreed on\n");
    rcmd('sentinel1', 'SENTINEL', 'FAILOVER', $MASTER_NAME);
    return $old;
}

# wait_switched($old, $limit): the name of the new master once it says
# role:master and every Sentinel gives its address; undef past $limit
sub sentinel_wait_switched {
    my ($old, $limit) = @_;
    return wait_until($limit || 10, sub {
        my $m = sentinel_master() or return;
        my $n = node_at($m);
        return unless $n && $n ne $old && (redis_role($n) // '') eq 'master';
        return $n;
    });
}

# sentinel_settle($limit): after a failover or a repoint, make the node
# that is not the master a replica of the master now (what the Sentinels
# would do themselves, but only some 10 s later), then wait until the
# group is ready for the next failover.  Returns the master's address.
sub sentinel_settle {
    my ($limit) = @_;
    my $m = wait_until(10, \&sentinel_master)
        or die "the Sentinels agree on no master\n";
    my $ms = server(node_at($m));
    for my $n (grep { $_ ne node_at($m) } qw(node1 node2)) {
        my $info = rcmd($n, 'INFO', 'replication');
        next if $info =~ /^role:slave/m
             && $info =~ /^master_port:$ms->{port}\r?$/m;
        rcmd($n, 'REPLICAOF', $ms->{host}, $ms->{port});
    }
    return sentinel_wait_ready($limit || 30);
}

# sentinel_repoint($name): make the Sentinels monitor $name as the
# master WITHOUT a failover (no +switch-master is published): every
# Sentinel forgets the master (SENTINEL REMOVE) and monitors $name
# (SENTINEL MONITOR).  The caller changes the nodes' roles in between.
sub sentinel_repoint {
    my ($name, $between) = @_;
    rcmd("sentinel$_", 'SENTINEL', 'REMOVE', $MASTER_NAME) for 1 .. 3;
    $between->() if $between;
    my $s = server($name);
    for my $i (1 .. 3) {
        rcmd("sentinel$i", 'SENTINEL', 'MONITOR', $MASTER_NAME,
             $s->{host}, $s->{port}, 2);
        for (sentinel_tuning()) {
            my (undef, $opt, undef, $v) = split ' ';
            rcmd("sentinel$i", 'SENTINEL', 'SET', $MASTER_NAME, $opt, $v);
        }
    }
}

# ---- blocks

# the "--- topology" section: "NAME: COMMAND ARG..." a line; words split
# on blanks, "quoted words" kept whole; "NAME: STOP" and "NAME: START"
# stop and start that server; "NAME: ASSERT VALUE COMMAND ARG..." checks
# the reply (a test of its own, named after the block)
sub topology_block {
    my ($block) = @_;
    my $cmds = $block->{topology} ? $block->{topology}[0] : undef;
    $cmds = $block->topology if !defined $cmds && $block->can('topology');
    return unless defined $cmds;
    for my $line (split /\n/, $cmds) {
        next unless $line =~ /\S/;
        my ($name, $rest) = $line =~ /^\s*([\w-]+):\s*(.*)$/
            or die "--- topology: \"$line\" names no server (NAME: COMMAND)\n";
        my @w = grep { defined } $rest =~ /"([^"]*)"|(\S+)/g;
        if ($w[0] eq 'STOP') { server_stop($name); next }
        if ($w[0] eq 'START') { server_start(name => $name); next }
        if ($w[0] eq 'ASSERT') {
            my (undef, $want, @cmd) = @w;
            my ($got, $err) = rtry($name, @cmd);
            Test::More::is($got // "error: $err", $want,
                           ($block->name // '') . " - $name: @cmd");
            next;
        }
        rcmd($name, @w);
    }
}

END {
    local $?;
    if ($$ == $owner) {
        for my $name (reverse @ORDER) {
            eval { server_stop($name) };
        }
        if ($dns_pid) {
            kill 'TERM', $dns_pid;
            waitpid $dns_pid, 0;
        }
    }
}

1;
