package TenantRedis;

# A real redis-server for the test suite, started on a free loopback port
# when a test file loads this module and shut down when that file ends.
# Works under the real Test::Nginx and the compat runner alike: blocks set
# Redis state with a "--- redis" section (one command a line), run by a
# block preprocessor, before the runner stops the previous block's nginx
# and starts this block's: that can take the real Test::Nginx a second or
# two (it waits until the old master is reaped), the compat runner a
# tenth.  State that must still hold when the request comes (a CLIENT
# PAUSE, a TTL counting down) is set from the block's "--- init" section
# instead, which both runners run once nginx is up, just before the first
# request:
#
#   --- init
#   TenantRedis::redis_run("CLIENT PAUSE 800 ALL")

use strict;
use warnings;

use IO::Socket::INET;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(redis redis_start redis_stop redis_port redis_block
                 redis_run);

our $PORT;
our @PERSIST;    # options that keep the data across a kill: redis_persist()
our $DIR = tempdir('tenant-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $owner = $$;
my $sock;

sub redis_port { $PORT }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub redis_start {
    $PORT ||= free_port();
    system('redis-server', '--port', $PORT, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
           '--dir', $DIR, '--pidfile', "$DIR/redis.pid",
           '--logfile', "$DIR/redis.log", @PERSIST) == 0
        or die "cannot start redis-server (apt-get install redis-server)";
    for (1 .. 100) {
        my $r = eval { redis('PING') };
        return if defined $r && $r eq 'PONG';
        sleep 0.05;
    }
    die "redis-server did not come up on port $PORT";
}

sub redis_stop {
    eval { redis('SHUTDOWN', 'NOSAVE') };
    undef $sock;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$PORT");
        return unless $s;
        close $s;
        sleep 0.05;
    }
}

# redis_persist(): from now on every write is in the append-only file,
# synced before Redis answers, and a restart reads it: the counters
# survive redis_kill() as they would on a server with durable storage.
sub redis_persist {
    @PERSIST = ('--appendonly', 'yes', '--appendfsync', 'always');
    redis('CONFIG', 'SET', 'appendfsync', 'always');
    redis('CONFIG', 'SET', 'appendonly', 'yes');
    for (1 .. 200) {
        my $info = redis('INFO', 'persistence');
        return if $info =~ /aof_rewrite_in_progress:0/
                  && $info =~ /aof_rewrite_scheduled:0/
                  && $info =~ /aof_enabled:1/;
        sleep 0.05;
    }
    die "redis-server did not turn its append-only file on";
}

# redis_kill(): SIGKILL, as a crash or an OOM kill would: no shutdown,
# no save, connections dropped
sub redis_kill {
    my ($pid) = (slurp_pid() // '') =~ /(\d+)/;
    die "no redis-server pid" unless $pid;
    kill 'KILL', $pid;
    undef $sock;
    for (1 .. 100) {
        last unless kill 0, $pid;
        sleep 0.02;
    }
    unlink "$DIR/redis.pid";
}

sub slurp_pid {
    open my $in, '<', "$DIR/redis.pid" or return undef;
    local $/;
    return scalar <$in>;
}

# redis(@command): one command over RESP, the reply decoded (arrays as
# array refs); dies on an error reply.
sub redis {
    my @args = @_;
    $sock ||= IO::Socket::INET->new(PeerAddr => "127.0.0.1:$PORT",
                                    Timeout => 3)
        or die "cannot connect to redis on $PORT: $!";
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print {$sock} $req;
    my $reply = read_reply();
    undef $sock if uc $args[0] eq 'SHUTDOWN';
    return $reply;
}

sub read_reply {
    my $line = <$sock>;
    die "redis closed the connection" unless defined $line;
    $line =~ s/\r\n\z//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' or $t eq ':';
    die "redis error: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my $buf = '';
        read($sock, $buf, $v + 2) == $v + 2 or die "short read";
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { read_reply() } 1 .. $v ];
    }
    die "unexpected redis reply: $line";
}

# The "--- redis" section: commands, one a line, words split on blanks,
# "quoted words" kept whole; RESTART, STOP and START stop and start the
# server itself.
sub redis_block {
    my ($block) = @_;
    my $cmds = $block->{redis} ? $block->{redis}[0] : undef;
    $cmds = $block->redis if !defined $cmds && $block->can('redis');
    redis_run($cmds) if defined $cmds;
}

# redis_run($text): the commands of a "--- redis" section, now.
sub redis_run {
    my ($cmds) = @_;
    for my $line (split /\n/, $cmds) {
        next unless $line =~ /\S/;
        my @w = $line =~ /"([^"]*)"|(\S+)/g;
        @w = grep { defined } @w;
        if ($w[0] eq 'STOP') { redis_stop(); next }
        if ($w[0] eq 'START') { redis_start(); next }
        if ($w[0] eq 'RESTART') { redis_stop(); redis_start(); next }
        redis(@w);
    }
}

redis_start();
$ENV{TEST_NGINX_REDIS_PORT} = $PORT;

END {
    # forked children (the runner's) must not take the server down
    redis_stop() if $$ == $owner && $PORT;
}

1;
