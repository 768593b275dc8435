package TenantCluster;

# A real Redis Cluster for the 41x tests: three masters and three
# replicas (redis-server --cluster-enabled yes, joined with redis-cli
# --cluster create --cluster-replicas 1), started once per test FILE when
# the file loads this module, on free loopback ports (client and bus
# port both chosen free: cluster-port), in a temporary directory, and
# stopped when the file ends (END, only in the process that started it:
# the runner's and the test's forked children leave it alone).
#
#   use TenantCluster;
#   my @seeds = cl_seeds();                 # ("127.0.0.1:P", ...) x 6
#   my $m = cl_node_of_key('tenant:{acme}');   # "127.0.0.1:P", a master
#   cl_run('tenant:{acme}', 'HSET', 'tenant:{acme}', 'status', 'x');
#   cl_move_slot(cl_slot('tenant:{acme}'), $other_master);
#   my $new = cl_failover($m);              # CLUSTER FAILOVER on its replica
#   cl_kill($m); cl_wait_promoted($m); cl_restart($m); cl_settle();
#
# Tuned for tests: cluster-node-timeout 1000 ms (a killed master is
# marked failed and its replica elected in about 2 s),
# cluster-require-full-coverage no (the other masters keep serving while
# a slot has no master: what a gateway in front of a cluster wants, and
# the default of ElastiCache), cluster-replica-validity-factor 0 (a
# replica may always be promoted) and cluster-allow-replica-migration no
# (every master keeps its own replica, so that a later failover of it
# has a replica to promote).
#
# Variants, named when the file loads the module (one per file):
#
#   use TenantCluster qw(tls);   every node TLS only (port 0, tls-port,
#                                tls-cluster and tls-replication yes): a
#                                test CA and a certificate for redis.test
#                                and 127.0.0.1 (openssl CLI), in
#                                TEST_NGINX_CLUSTER_CA; the harness speaks
#                                TLS too
#   use TenantCluster qw(acl);   the user "gateway" (password $GW_PASSWORD)
#                                with $GW_ACL: the rights the module needs
#                                in a cluster, and no more
#   use TenantCluster qw(noreplicas);
#                                three masters and no replica: a master
#                                killed stays down, its slots unserved
#                                (nobody takes them over)
#
# A second cluster, for a file that needs one configured otherwise
# beside its own (t/410's TLS subtest): my @seeds = cl_another('tls',
# 'noreplicas') starts it with those variants, on nodes of its own
# (stopped in END too); cl_cmd and the functions that take a node's
# address ($from) reach it, the others (cl_seeds, cl_settle, ...) speak
# of the file's cluster.
#
# Debugging: TENANT_CLUSTER=127.0.0.1:P[,...] attaches to a running
# cluster instead of starting one (nothing is started or stopped;
# cl_kill and cl_restart die: cl_can_kill() says so); TENANT_CLUSTER_KEEP=1
# leaves the started cluster running at the end and prints its seeds.

use strict;
use warnings;

use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL ();
use Time::HiRes qw(sleep time);

use TenantTopology ();

use Exporter ();
our @ISA = qw(Exporter);
our @EXPORT = qw(
    cl_seeds cl_nodes cl_masters cl_replicas cl_replica_of cl_master_of
    cl_cmd cl_try cl_slot cl_slots_of cl_owner cl_node_of_key cl_run
    cl_tenants_on cl_move_slot cl_reshard cl_failover cl_kill cl_restart
    cl_stall
    cl_wait_promoted cl_settle cl_problem cl_check cl_can_kill cl_slot_unassign
    cl_slot_assign cl_name cl_wait cl_info_field cl_calls cl_dead_port
    cl_flush cl_move_slot_end cl_another
);

# What the gateway's user needs on a cluster node: t/lib/TenantTopology's
# single-node rights, and CLUSTER SLOTS (the slot map) and ASKING (a
# command sent on after -ASK).
# The single-node rights are TenantTopology's own, not a copy that would
# fall behind when the script calls something new.
our $GW_ACL = $TenantTopology::GATEWAY_ACL . ' +cluster|slots +asking';
our $GW_PASSWORD = 'gw-Cluster-5e1b';

our $NODE_TIMEOUT = 1000;
our %OPT;             # tls, acl, noreplicas: as imported
our $MASTERS = 3;
our (@NODES, @OTHERS, %BY_ADDR, $DIR, $ATTACHED, $WHY);
my $owner = $$;
my (%conn, $started, %taken);

sub variants {
    my %opt;
    for my $w (@_) {
        die "TenantCluster: unknown variant \"$w\" (tls acl noreplicas)\n"
            unless $w =~ /^(?:tls|acl|noreplicas)\z/;
        $opt{$w} = 1;
    }
    return %opt;
}

sub import {
    my ($class, @what) = @_;
    %OPT = (%OPT, variants(@what));
    # perl -c runs this but not END: nothing is started then
    if (!$started++ && !$^C) {
        if ($ENV{TENANT_CLUSTER}) { attach() } else { start() }
        $ENV{TEST_NGINX_CLUSTER_SEEDS} = join ' ', cl_seeds();
    }
    __PACKAGE__->export_to_level(1, $class, @EXPORT);
}

sub tls_dir { "$DIR/tls" }

# the variants of the cluster a node is in (the file's, or cl_another's)
sub opt_of {
    my ($addr) = @_;
    my $n = $BY_ADDR{$addr // ''};
    return $n && $n->{opt} ? $n->{opt} : \%OPT;
}

sub connect_node {
    my ($addr) = @_;
    return IO::Socket::INET->new(PeerAddr => $addr, Timeout => 3)
        unless opt_of($addr)->{tls};
    return IO::Socket::SSL->new(PeerAddr => $addr, Timeout => 3,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE());
}

sub make_certs {
    my $d = tls_dir();
    return if -e "$d/server.crt";
    make_path($d);
    my $run = sub {
        my $out = `cd '$d' && @_ 2>&1`;
        die "openssl failed: @_\n$out" if $?;
    };
    $run->('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1'
           . ' -nodes -days 3650 -keyout ca.key -out ca.crt -subj "/CN=Cluster Test CA"'
           . ' -addext basicConstraints=critical,CA:TRUE'
           . ' -addext keyUsage=critical,keyCertSign,cRLSign');
    $run->('openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1'
           . ' -nodes -keyout server.key -out server.csr -subj /CN=redis.test');
    open my $e, '>', "$d/server.ext" or die $!;
    print {$e} "basicConstraints=critical,CA:FALSE\n"
        . "keyUsage=critical,digitalSignature,keyEncipherment\n"
        . "extendedKeyUsage=serverAuth,clientAuth\n"
        . "subjectAltName=DNS:redis.test,IP:127.0.0.1\n";
    close $e;
    $run->('openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key'
           . ' -CAcreateserial -days 3650 -extfile server.ext -out server.crt');
    chmod 0644, glob "$d/*.key";
    $ENV{TEST_NGINX_CLUSTER_CA} = "$d/ca.crt";
}

# redis-cli's options for the cluster of a node (else the file's)
sub cli_opts {
    return opt_of(@_)->{tls} ? ('--tls', '--cacert', tls_dir() . '/ca.crt')
                             : ();
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# a loopback port nothing listens on (a dead seed)
sub cl_dead_port { free_port() }

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return scalar(<$in>) // '';
}

# cl_wait($seconds, sub { ... }, $every): polls until the code returns
# true (that value is returned) or the time is up (undef)
sub cl_wait {
    my ($limit, $code, $every) = @_;
    my $end = time + $limit;
    while (1) {
        my $v = eval { $code->() };
        return $v if $v;
        return undef if time > $end;
        sleep($every || 0.02);
    }
}

# ---- RESP, one cached connection a node

sub cl_cmd {
    my ($addr, @args) = @_;
    for my $try (1, 2) {
        my $s = $conn{$addr} ||= connect_node($addr)
            or die "cannot connect to redis at $addr: $!\n";
        my $req = '*' . @args . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
        local $SIG{PIPE} = 'IGNORE';
        my $ok = print {$s} $req;
        my ($r, $io);
        if ($ok) {
            $r = eval { read_reply($s) };
            if ($@) {
                die $@ if $@ =~ /^redis error:/;
                $io = $@;
            }
        }
        return $r if $ok && !$io;
        delete $conn{$addr};
        die "redis at $addr: " . ($io || "write failed: $!") if $try == 2;
    }
}

# as cl_cmd, but ($reply, $error) instead of dying
sub cl_try {
    my @r = eval { (scalar cl_cmd(@_)) };
    return @r ? ($r[0], undef) : (undef, $@);
}

# RESP replies are read as TenantTopology reads them
sub read_reply { TenantTopology::read_reply(@_) }

sub cl_info_field {
    my ($addr, $section, $field) = @_;
    my ($info) = cl_try($addr, 'INFO', $section);
    return undef unless defined $info;
    return $info =~ /^\Q$field\E:(\S*)/m ? $1 : undef;
}

# cl_calls($addr, qw(evalsha eval)): their calls on that node, added up
sub cl_calls {
    my ($addr, @cmds) = @_;
    my $info = cl_cmd($addr, 'INFO', 'commandstats');
    my $n = 0;
    for my $c (@cmds) {
        $n += $1 if $info =~ /^cmdstat_\Q$c\E:calls=(\d+)/m;
    }
    return $n;
}

# ---- processes

sub node_conf {
    my ($n) = @_;
    my $t = tls_dir();
    my $opt = $n->{opt};
    return (
        $opt->{tls} ? ('port 0', "tls-port $n->{port}", 'tls-cluster yes',
                       'tls-replication yes', "tls-cert-file $t/server.crt",
                       "tls-key-file $t/server.key",
                       "tls-ca-cert-file $t/ca.crt", 'tls-auth-clients no')
                    : "port $n->{port}",
        $opt->{acl} ? "user gateway on >$GW_PASSWORD $GW_ACL" : (),
        "cluster-port $n->{bus}",
        'bind 127.0.0.1',
        "dir $n->{dir}",
        "pidfile $n->{dir}/redis.pid",
        "logfile $n->{dir}/redis.log",
        'daemonize yes',
        'save ""',
        'appendonly no',
        'cluster-enabled yes',
        "cluster-config-file $n->{dir}/nodes.conf",
        "cluster-node-timeout $NODE_TIMEOUT",
        'cluster-require-full-coverage no',
        'cluster-replica-validity-factor 0',
        'cluster-allow-replica-migration no',
        'repl-ping-replica-period 1',
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
    );
}

sub node_start {
    my ($n) = @_;
    open my $out, '>', "$n->{dir}/redis.conf" or die "$n->{dir}: $!";
    print {$out} join "\n", node_conf($n), '';
    close $out;
    system('redis-server', "$n->{dir}/redis.conf") == 0
        or die "cannot start redis-server (apt-get install redis-server)";
    cl_wait(5, sub { (cl_try($n->{addr}, 'PING'))[0] })
        or die "redis-server $n->{name} did not come up at $n->{addr}:\n"
               . slurp("$n->{dir}/redis.log");
    $n->{pid} = (slurp("$n->{dir}/redis.pid") =~ /(\d+)/)[0];
}

sub alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    my ($state) = slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) (\S)/;
    return defined $state && $state ne 'Z';
}

sub cl_can_kill { !$ATTACHED }

sub node { $BY_ADDR{$_[0]} or die "no cluster node at $_[0]\n" }

# "node3" for "127.0.0.1:P", for messages
sub cl_name {
    my $n = $BY_ADDR{$_[0] // ''};
    return $n ? "$n->{name}($_[0])" : $_[0] // '(none)';
}

# cl_kill($addr): SIGKILL, no goodbye to the cluster; returns at once
sub cl_kill {
    my ($addr) = @_;
    die "cl_kill: attached to a cluster not started here\n" if $ATTACHED;
    my $n = node($addr);
    kill 'KILL', $n->{pid} if $n->{pid};
    cl_wait(5, sub { !alive($n->{pid}) }, 0.01);
    delete $conn{$addr};
}

# cl_stall($addr, $seconds): SIGSTOP, then SIGCONT (a hung node: below
# cluster-node-timeout nobody fails it over); returns when it runs again
sub cl_stall {
    my ($addr, $seconds) = @_;
    die "cl_stall: attached to a cluster not started here\n" if $ATTACHED;
    my $n = node($addr);
    kill 'STOP', $n->{pid};
    sleep $seconds;
    kill 'CONT', $n->{pid};
}

# cl_restart($addr): start a killed node again (it keeps its nodes.conf
# and so its identity: an old master comes back as a replica)
sub cl_restart {
    my ($addr) = @_;
    die "cl_restart: attached to a cluster not started here\n" if $ATTACHED;
    my $n = node($addr);
    return if alive($n->{pid});
    delete $conn{$addr};
    node_start($n);
}

# the nodes of a cluster with the variants %$opt, started and joined
# (three masters, and a replica each unless noreplicas), named
# "${prefix}N"; pushed onto @$into as they are made, so that END stops
# even those of a cluster that failed to join
sub start_nodes {
    my ($opt, $prefix, $into) = @_;
    # in TMPDIR, like TenantRedis and TenantTopology: not under the
    # servroot, which a Test::Nginx file running alongside (prove -j)
    # removes whole when it starts
    $DIR //= tempdir('tenant-cluster-XXXXXX', TMPDIR => 1,
                     CLEANUP => !$ENV{TENANT_CLUSTER_KEEP});
    make_certs() if $opt->{tls};
    my $replicas = $opt->{noreplicas} ? 0 : 1;
    my @nodes;
    for my $i (1 .. $MASTERS * (1 + $replicas)) {
        my ($port, $bus);
        do { $port = free_port() } while $taken{$port}++;
        do { $bus = free_port() } while $taken{$bus}++;
        my $n = { name => "$prefix$i", port => $port, bus => $bus,
                  addr => "127.0.0.1:$port", dir => "$DIR/$prefix$i",
                  opt => $opt };
        make_path($n->{dir});
        push @nodes, $n;
        push @$into, $n;
        $BY_ADDR{$n->{addr}} = $n;
    }
    node_start($_) for @nodes;
    my @addrs = map { $_->{addr} } @nodes;
    my $out = `redis-cli @{[ cli_opts($addrs[0]) ]} --cluster create @addrs --cluster-replicas $replicas --cluster-yes 2>&1`;
    die "redis-cli --cluster create failed:\n$out" if $?;
    return @nodes;
}

sub start {
    start_nodes(\%OPT, 'node', \@NODES);
    cl_settle(30) or die "the cluster did not settle: $WHY\n";
}

# cl_another(@variants): a second cluster (see the top); its seeds once
# cluster_state is ok on each of its nodes and each sees its masters
sub cl_another {
    my (@what) = @_;
    die "cl_another: attached to a cluster not started here\n" if $ATTACHED;
    my @nodes = start_nodes({ variants(@what) }, 'other' . (@OTHERS + 1) . '-',
                            \@OTHERS);
    my @addrs = map { $_->{addr} } @nodes;
    cl_wait(30, sub { !defined($WHY = nodes_problem(\@nodes)) }, 0.1)
        or die "the other cluster did not settle: $WHY\n";
    return @addrs;
}

sub attach {
    my @seeds = split /[,\s]+/, $ENV{TENANT_CLUSTER};
    $ATTACHED = 1;
    my ($nodes) = grep { defined } map { (cl_try($_, 'CLUSTER', 'NODES'))[0] }
                                   @seeds;
    die "TENANT_CLUSTER=$ENV{TENANT_CLUSTER}: no node answers\n" unless $nodes;
    my $i = 0;
    for my $line (split /\n/, $nodes) {
        my (undef, $addr) = split ' ', $line;
        $addr =~ s/[@,].*//;
        my ($port) = $addr =~ /:(\d+)$/;
        my $n = { name => 'node' . ++$i, port => $port, addr => $addr };
        push @NODES, $n;
        $BY_ADDR{$addr} = $n;
    }
}

# ---- the map, as a live node sees it

# cl_nodes($from): [ { id, addr, flags => {master=>1,...}, master_id,
# slots => [[lo, hi], ...], link } ], as CLUSTER NODES of $from (else of
# the first node that answers)
sub cl_nodes {
    my ($from) = @_;
    my @from = $from ? ($from) : map { $_->{addr} } @NODES;
    for my $a (@from) {
        my ($text) = cl_try($a, 'CLUSTER', 'NODES');
        next unless defined $text;
        my @n;
        for my $line (split /\n/, $text) {
            my ($id, $addr, $flags, $master, undef, undef, $epoch, $link,
                @slots) = split ' ', $line;
            $addr =~ s/[@,].*//;
            my %f = map { $_ => 1 } split /,/, $flags;
            push @n, {
                id => $id, addr => $addr, flags => \%f, epoch => $epoch,
                master_id => $master eq '-' ? undef : $master, link => $link,
                slots => [ map { /^(\d+)(?:-(\d+))?$/ ? [$1, $2 // $1] : () }
                           @slots ],
            };
        }
        return \@n;
    }
    die "no cluster node answers CLUSTER NODES\n";
}

sub healthy_master {
    my ($n) = @_;
    return $n->{flags}{master} && !$n->{flags}{fail} && !$n->{flags}{'fail?'};
}

# the masters that serve slots, by address, sorted
sub cl_masters {
    sort map { $_->{addr} } grep { healthy_master($_) && @{ $_->{slots} } }
                            @{ cl_nodes(@_) };
}

sub cl_replicas {
    sort map { $_->{addr} } grep { $_->{flags}{slave} && !$_->{flags}{fail} }
                            @{ cl_nodes(@_) };
}

# the (first) replica of a master, by address
sub cl_replica_of {
    my ($master) = @_;
    my $nodes = cl_nodes();
    my ($m) = grep { $_->{addr} eq $master } @$nodes or return undef;
    my ($r) = sort { $a->{addr} cmp $b->{addr} }
              grep { ($_->{master_id} // '') eq $m->{id}
                     && !$_->{flags}{fail} } @$nodes;
    return $r ? $r->{addr} : undef;
}

sub cl_master_of {
    my ($replica) = @_;
    my $nodes = cl_nodes();
    my ($r) = grep { $_->{addr} eq $replica } @$nodes or return undef;
    my ($m) = grep { $_->{id} eq ($r->{master_id} // '') } @$nodes;
    return $m ? $m->{addr} : undef;
}

sub cl_seeds { map { $_->{addr} } @NODES }

# the slot of a key, as Redis computes it
sub cl_slot {
    my ($key) = @_;
    for my $n (@NODES) {
        my ($s) = cl_try($n->{addr}, 'CLUSTER', 'KEYSLOT', $key);
        return $s if defined $s;
    }
    die "no cluster node answers CLUSTER KEYSLOT\n";
}

# the slot ranges a master serves
sub cl_slots_of {
    my ($addr, $from) = @_;
    my ($m) = grep { $_->{addr} eq $addr } @{ cl_nodes($from) };
    return $m ? @{ $m->{slots} } : ();
}

# the master serving a slot, as $from (or the first live node) sees it
sub cl_owner {
    my ($slot, $from) = @_;
    for my $n (grep { healthy_master($_) } @{ cl_nodes($from) }) {
        for my $r (@{ $n->{slots} }) {
            return $n->{addr} if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return undef;
}

sub cl_node_of_key { cl_owner(cl_slot($_[0]), $_[1]) }

# cl_run($key, @command): @command on the master of $key's slot
# (following one MOVED, and an ASK with ASKING)
sub cl_run {
    my ($key, @cmd) = @_;
    my $addr = cl_node_of_key($key) or die "no master serves $key\n";
    my ($r, $e) = cl_try($addr, @cmd);
    return $r unless $e;
    if ($e =~ /MOVED \d+ (\S+)/) {
        return cl_cmd($1, @cmd);
    }
    if ($e =~ /ASK \d+ (\S+)/) {
        cl_cmd($1, 'ASKING');
        return cl_cmd($1, @cmd);
    }
    die $e;
}

# cl_tenants_on($master, $count, $prefix): $count tenant ids
# "$prefix$i" whose keys (tenant:{ID}) live on that master
sub cl_tenants_on {
    my ($master, $count, $prefix) = @_;
    my @ranges = cl_slots_of($master);
    my @t;
    for (my $i = 1; @t < $count && $i < 100000; $i++) {
        my $s = cl_cmd($master, 'CLUSTER', 'KEYSLOT', "tenant:{$prefix$i}");
        push @t, "$prefix$i" if grep { $s >= $_->[0] && $s <= $_->[1] } @ranges;
    }
    return @t;
}

# FLUSHALL on every master
sub cl_flush { cl_cmd($_, 'FLUSHALL') for cl_masters() }

# ---- changes

# cl_move_slot($slot, $to, pause => s, batch => n, between => sub {},
# half => 1): the documented manual procedure: IMPORTING on the target,
# MIGRATING on the source, the keys MIGRATEd $batch at a time (pausing
# $pause between batches and calling $between after each: the slot is
# half moved then), then (unless half: the keys moved, the slot still
# the source's, MIGRATING there and IMPORTING on the target, until
# cl_move_slot_end) SETSLOT NODE on the target, the source and every
# other master.  Returns the source's address.
sub cl_move_slot {
    my ($slot, $to, %o) = @_;
    my $from = cl_owner($slot) or die "slot $slot has no master\n";
    return $from if $from eq $to;
    my %id = map { $_->{addr} => $_->{id} } @{ cl_nodes() };
    my $batch = $o{batch} || 100;
    my ($host, $port) = split /:/, $to;
    cl_cmd($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $id{$from});
    cl_cmd($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $id{$to});
    while (1) {
        my $keys = cl_cmd($from, 'CLUSTER', 'GETKEYSINSLOT', $slot, $batch);
        last unless @$keys;
        cl_cmd($from, 'MIGRATE', $host, $port, '', 0, 5000, 'KEYS', @$keys);
        $o{between}->() if $o{between};
        sleep $o{pause} if $o{pause};
    }
    return $from if $o{half};
    cl_move_slot_end($slot, $to, $from);
    return $from;
}

# cl_move_slot_end($slot, $to, $from): the end of a move, SETSLOT NODE
# on the target, the source and every other master; returns when every
# node names $to
sub cl_move_slot_end {
    my ($slot, $to, $from) = @_;
    my %id = map { $_->{addr} => $_->{id} } @{ cl_nodes() };
    cl_cmd($to, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $id{$to});
    cl_cmd($from, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $id{$to});
    for my $m (cl_masters()) {
        next if $m eq $to || $m eq $from;
        cl_try($m, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $id{$to});
    }
    # every node sees the new owner before the caller goes on
    cl_wait(5, sub {
        !grep { (cl_owner($slot, $_->{addr}) // '') ne $to }
             grep { $_->{flags}{master} || $_->{flags}{slave} }
             grep { !$_->{flags}{fail} } @{ cl_nodes() }
    }) or warn "slot $slot: not every node names $to yet\n";
}

# cl_reshard($from, $to, $slots): redis-cli --cluster reshard, $slots
# slots moved from master $from to master $to; returns its output
sub cl_reshard {
    my ($from, $to, $slots) = @_;
    my %id = map { $_->{addr} => $_->{id} } @{ cl_nodes() };
    my $out = `redis-cli @{[ cli_opts($to) ]} --cluster reshard $to --cluster-from $id{$from} --cluster-to $id{$to} --cluster-slots $slots --cluster-yes 2>&1`;
    die "redis-cli --cluster reshard failed:\n$out" if $?;
    return $out;
}

# cl_failover($master): CLUSTER FAILOVER on its replica; returns the
# replica's address once it is a master every live node agrees on
sub cl_failover {
    my ($master, %o) = @_;
    my $r = cl_replica_of($master) or die "master $master has no replica\n";
    cl_cmd($r, 'CLUSTER', 'FAILOVER', $o{mode} ? $o{mode} : ());
    cl_wait_promoted($master, $o{limit} || 10, $r) or
        die "replica $r of $master was not promoted:\n" . cl_check();
    return $r;
}

# cl_wait_promoted($old, $limit, $replica): the address of the replica
# of $old that now serves $old's slots (role:master on itself, and so on
# every live master's map), undef past $limit
sub cl_wait_promoted {
    my ($old, $limit, $replica) = @_;
    $replica ||= cl_replica_of($old) or return undef;
    return cl_wait($limit || 10, sub {
        return undef unless (cl_info_field($replica, 'replication', 'role')
                             // '') eq 'master';
        for my $m (grep { $_ ne $old } cl_masters($replica)) {
            return undef unless grep { $_ eq $replica } cl_masters($m);
        }
        return $replica;
    }, 0.01);
}

# cl_settle($limit): every node up, cluster_state:ok everywhere, every
# node sees three masters with a replica each whose link is up, and
# redis-cli --cluster check is happy.  False past $limit ($WHY says why).

sub cl_settle {
    my ($limit) = @_;
    return cl_wait($limit || 20, sub { !defined($WHY = cl_problem()) }, 0.1);
}

# what keeps the cluster from being settled, or undef
sub cl_problem {
    my $why = nodes_problem(\@NODES);
    return $why if defined $why;
    my $check = cl_check();
    return "redis-cli --cluster check: $check"
        unless $check =~ /All nodes agree about slots configuration.*All 16384 slots covered/s;
    return undef;
}

# what keeps the cluster of @$nodes from being settled, as its nodes
# see it, or undef
sub nodes_problem {
    my ($nodes_of) = @_;
    for my $n (@$nodes_of) {
        my $a = $n->{addr};
        my ($ci) = cl_try($a, 'CLUSTER', 'INFO');
        my ($state) = ($ci // '') =~ /^cluster_state:(\w+)/m;
        $state //= 'unreachable';
        return "$a: cluster_state:$state" unless $state eq 'ok';
        my $nodes = cl_nodes($a);
        my @m = grep { healthy_master($_) && @{ $_->{slots} } } @$nodes;
        return "$a sees " . @m . " masters" unless @m == $MASTERS;
        for my $o (@$nodes) {
            return "$a sees $o->{addr} " . join(',', sort keys %{ $o->{flags} })
                . " $o->{link}"
                if $o->{flags}{fail} || $o->{flags}{'fail?'}
                   || $o->{link} ne 'connected';
        }
        for my $m (opt_of($a)->{noreplicas} ? () : @m) {
            return "$a sees no replica of $m->{addr}"
                unless grep { ($_->{master_id} // '') eq $m->{id} } @$nodes;
        }
        my $role = cl_info_field($a, 'replication', 'role') // '';
        my $link = cl_info_field($a, 'replication', 'master_link_status');
        return "$a: master_link_status:$link"
            if $role eq 'slave' && ($link // '') ne 'up';
    }
    return undef;
}

# redis-cli --cluster check's report
sub cl_check {
    my ($addr) = grep { (cl_try($_, 'PING'))[0] } cl_seeds();
    return 'no node answers' unless $addr;
    return scalar `redis-cli @{[ cli_opts($addr) ]} --cluster check $addr 2>&1`;
}

# CLUSTERDOWN for one slot: every node forgets who serves it (DELSLOTS);
# cl_slot_assign gives it back to $master
sub cl_slot_unassign {
    my ($slot) = @_;
    my $owner = cl_owner($slot);
    cl_try($_, 'CLUSTER', 'DELSLOTS', $slot) for cl_seeds();
    return $owner;
}

sub cl_slot_assign {
    my ($slot, $master) = @_;
    cl_cmd($master, 'CLUSTER', 'ADDSLOTS', $slot);
    cl_cmd($master, 'CLUSTER', 'BUMPEPOCH');
    cl_wait(5, sub {
        !grep { (cl_owner($slot, $_) // '') ne $master } cl_masters()
    });
}


END {
    local $?;
    if ($$ == $owner && !$ATTACHED) {
        if ($ENV{TENANT_CLUSTER_KEEP}) {
            print STDERR "# cluster kept: TENANT_CLUSTER=",
                join(',', cl_seeds()), " (in $DIR)\n";
        } else {
            for my $n (@NODES, @OTHERS) {
                kill 'KILL', $n->{pid} if $n->{pid} && alive($n->{pid});
            }
        }
    }
}

1;
