package Test::Nginx::Socket;

# A small stand-in for openresty's Test::Nginx::Socket (CPAN Test::Nginx
# 0.30+), used only where the real one cannot be installed (Debian machines
# without CPAN): the Makefile puts t/lib/compat on @INC only when
# `perl -MTest::Nginx::Socket -e1` fails.  The same .t files must behave the
# same under both, so the nginx.conf layout, the request bytes and the number
# and names of the TAP tests each section produces follow the real
# Test::Nginx::Util / Test::Nginx::Socket.  Sections whose real semantics are
# not implemented here make the run bail out instead of passing silently.
#
# Built on Debian's Test::Base (libtest-base-perl) like the real one, so
# section filters (`--- request eval`, `--- error_code: 200`, ONLY, SKIP...)
# behave identically.

use strict;
use warnings;

# Lower-case -base: subclass Test::Base without Spiffy's source filter.
use Test::Base -base;

use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(SIGQUIT SIGTERM SIGKILL WNOHANG EAGAIN EINTR);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use List::Util qw(shuffle min max);
use Scalar::Util qw(looks_like_number);

our $VERSION = '0.30_compat';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log add_block_preprocessor
    bail_out add_cleanup_handler
);

# ---- settings: the real one's environment variables and defaults

our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our ($ServerAddr, $ServerName) = ('127.0.0.1', 'localhost');
our ($Workers, $WorkerConnections, $RepeatEach) = (1, 64, 1);
our ($NoRootLocation, $NoLongString, $ConfigPreamble) = (0, undef, '');
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);

die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n"
    if defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/;

our $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our ($LogDir, $HtmlDir, $ConfDir) = map { "$ServRoot/$_" } qw(logs html conf);
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $PidFile    = "$LogDir/nginx.pid";
our $ConfFile   = "$ConfDir/nginx.conf";
our $StderrFile = "$LogDir/nginx.stderr";    # nginx's own stderr at startup

our ($NginxVersion, $NginxV, $ChildPid, $PrevConfig, $InSubprocess);
our ($ErrLogFilePos, $TotalConnectingTimeouts) = (0, 0);
srand $$;

# .t files poking at the real module's package variables keep working.
{
    no strict 'refs';
    *{"Test::Nginx::Util::$_"} = \${"Test::Nginx::Socket::$_"}
        for qw(ServerPort ServerPortForClient ServRoot PidFile ConfFile RepeatEach
               NoLongString ServerAddr ServerName NginxVersion LogLevel Timeout);
}

# ---- exported knobs, with the real ones' prototypes

sub repeat_each (@)            { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)                { @_ ? ($Workers = shift) : $Workers }
sub worker_connections (@)     { @_ ? ($WorkerConnections = shift) : $WorkerConnections }
sub log_level (@)              { @_ ? ($LogLevel = shift) : $LogLevel }
sub timeout (@)                { @_ ? ($Timeout = shift) : $Timeout }
sub server_port (@)            { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client (@) { @_ ? ($ServerPortForClient = shift) : $ServerPortForClient }
sub server_addr (@)            { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_name (@)            { @_ ? ($ServerName = shift) : $ServerName }
sub master_on ()               { $MasterProcessEnabled = 'on' }
sub master_off ()              { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    @_ ? ($MasterProcessEnabled = shift() ? 'on' : 'off') : $MasterProcessEnabled;
}
sub no_long_string ()          { $NoLongString = 1 }
sub no_shuffle ()              { $NoShuffle = 1 }
sub no_root_location ()        { $NoRootLocation = 1 }
sub no_nginx_manager ()        { $NoNginxManager = 1 }
sub check_accum_error_log ()   { $CheckAccumErrLog = 1 }
sub config_preamble ($)        { $ConfigPreamble = shift }
sub html_dir ()                { $HtmlDir }
sub server_root ()             { $ServRoot }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for (@_) {
        Carp::croak("env_to_nginx: bad argument value: $_\n") if !/^[A-Za-z_]/ || /\n/;
        push @EnvToNginx, $_;
    }
}

sub is_str (@) {
    my ($got, $want, $desc) = @_;
    return Test::More::like($got, $want, $desc) if ref $want eq 'Regexp';
    return Test::More::is($got, $want, $desc)
        if $NoLongString || !eval { require Test::LongString; 1 };
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::LongString::is_string($got, $want, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# A failure after which the planned count cannot hold any more.
sub fail_no_ending {
    Test::More->builder->no_ending(1);
    Test::More::fail($_[0]);    # fail() has a (;$) prototype
}

# ---- small helpers

sub parse_time {
    my $t = shift;
    return $t unless defined $t && $t =~ /^\s*([\d.]+)\s*(ms|s)?\s*$/;
    return ($2 // '') eq 'ms' ? $1 / 1000 : $1;
}

sub fmt_str {
    (my $s = shift) =~ s/\n\z//;
    $s =~ s/"/\\"/g; $s =~ s/\r/\\r/g; $s =~ s/\n/\\n/g;
    return $s;
}

sub slurp {
    open my $in, '<', shift or return '';
    local $/;
    return <$in> // '';
}

sub write_file {
    my ($path, $body) = @_;
    open my $out, '>', $path or bail_out("Can't open $path for writing: $!\n");
    binmode $out;
    print $out $body;
    close $out;
}

sub can_run {
    my $cmd = shift;
    return -x $cmd ? $cmd : undef if $cmd =~ m{/};
    # Debian keeps nginx in /usr/sbin, which a non-root PATH may lack.
    for my $dir (grep { length } split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin') {
        return "$dir/$cmd" if -f "$dir/$cmd" && -x _;
    }
    return undef;
}

sub canon_version { sprintf "%d.%03d%03d", @_ }

sub get_nginx_version {
    $NginxBinary = can_run($NginxBinary)
        or bail_out("Cannot find the nginx executable ($NginxBinary) in the PATH environment");
    $NginxV = `'$NginxBinary' -V 2>&1`;
    bail_out("Failed to get the version of the Nginx in PATH: $NginxV") if $?;
    return canon_version($1, $2, $3)
        if $NginxV =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $NginxV =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s;
    bail_out("Failed to parse the output of \"nginx -V\": $NginxV\n");
}

# ---- processes

# Alive and not a zombie: a daemonised nginx is not our child, and PID 1 of a
# container does not always reap it.
sub is_running {
    my $pid = shift;
    return 0 unless $pid && kill 0, $pid;
    return slurp("/proc/$pid/stat") !~ /\)\s+Z\b/;
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (1) {
        waitpid($pid, WNOHANG);
        return 1 unless is_running($pid);
        return 0 if time > $deadline;
        sleep 0.02;
    }
}

sub kill_process {
    my ($pid, $name) = @_;
    kill SIGQUIT, $pid;
    # valgrind's leak check at exit takes a while
    return if wait_gone($pid, $UseValgrind ? max($Timeout, 30) : $Timeout);
    warn "$name - timeout when waiting for the process $pid to exit\n";
    kill SIGTERM, $pid;
    return if wait_gone($pid, 1);
    warn "$name - WARNING: killing the child process $pid with force...\n";
    kill SIGKILL, getpgrp($pid) == $pid ? -$pid : $pid;
    wait_gone($pid, 1);
}

sub stop_nginx {
    my $name = shift;
    my ($pid_from_file) = slurp($PidFile) =~ /(\d+)/;
    for my $pid ($ChildPid, $pid_from_file) {
        next unless $pid && is_running($pid);
        # a stale pid file may name a recycled pid: only signal an nginx
        my $cmd = slurp("/proc/$pid/cmdline");
        kill_process($pid, $name) if $cmd eq '' || $cmd =~ /nginx|valgrind|memcheck/;
    }
    undef $ChildPid;
    unlink $PidFile;
}

sub cleanup {
    $_->() for @CleanupHandlers;
    kill_process($ChildPid, 'cleanup') if $ChildPid && is_running($ChildPid);
    undef $ChildPid;
}

END {
    return if $InSubprocess;
    local $?;    # keep Test::Builder's exit code
    cleanup();
    stop_nginx('END') if $UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN};
}

# fork+exec rather than system(): no shell quoting, and the daemon never
# inherits a pipe of ours.  stderr goes to $stderr (undef: keep ours).
sub spawn {
    my ($stderr, @cmd) = @_;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    return $pid if $pid;
    $InSubprocess = 1;
    setpgrp(0, 0);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    open STDERR, '>>', $stderr if defined $stderr;
    { exec { $cmd[0] } @cmd }
    POSIX::_exit(127);    # exec failed; skip END blocks
}

sub nginx_cmd {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # -e (nginx >= 1.19.5) also sends what is logged before error_log is
    # parsed (e.g. [emerg] on a bad config) to servroot's error.log, as
    # openresty-style builds with a prefix-relative log path do.
    push @cmd, '-e', $ErrLogFile if $NginxVersion >= 1.019005;
    return @cmd;
}

# Start nginx (daemon on) once and return its wait status, never waiting more
# than 10 s even if it fails to daemonise; under @valgrind if given.
sub run_nginx_once {
    my @valgrind = @_;
    unlink $StderrFile;
    my $pid = spawn($StderrFile, @valgrind, nginx_cmd());
    my $deadline = time + max(10, $Timeout);
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.01;
    }
    kill SIGKILL, $pid;
    waitpid($pid, 0);
    return $?;
}

# Under valgrind each nginx process writes its report to a file of its own
# here (a master's workers too: %p), read by check_valgrind() after the block.
our $ValgrindDir = "$ServRoot/valgrind";

# same valgrind command line as the real one; a fresh $ValgrindDir
sub valgrind_cmd {
    my @opts = $UseValgrind =~ /^\d+$/
        ? (qw(--num-callers=100 -q --tool=memcheck --leak-check=full
              --show-possibly-lost=no --gen-suppressions=all),
           -f 'valgrind.suppress' ? '--suppressions=valgrind.suppress' : ())
        : ('-q', split ' ', $UseValgrind);
    make_path($ValgrindDir);
    unlink glob "$ValgrindDir/*.log";
    return ('valgrind', "--log-file=$ValgrindDir/%p.log", @opts);
}

sub start_nginx {
    my $name = shift;
    if ($UseValgrind) {
        my @valgrind = valgrind_cmd();
        warn "$name\n";    # valgrind's reports follow on stderr
        $ChildPid = spawn(undef, @valgrind, nginx_cmd());
        sleep $TestNginxSleep;
        return;
    }
    my $deadline = time + 10;
    while ((my $status = run_nginx_once()) != 0) {
        my $err = slurp($StderrFile);
        # retry only while the port is still held, e.g. by a dying nginx
        if ($err =~ /Address already in use/ && time < $deadline) { sleep 0.5; next }
        bail_out("$name - Cannot start nginx using command \"@{[nginx_cmd()]}\""
                 . " (status code $status): $err");
    }
    sleep $TestNginxSleep;
}

# ---- server root, user files, nginx.conf

sub setup_server_root {
    # remove only what we create, never a mistaken TEST_NGINX_SERVROOT
    remove_tree($ConfDir, $HtmlDir, $LogDir, glob("$ServRoot/*_temp"),
                glob("$ServRoot/*_cache")) if -d $ServRoot;
    for ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        -d or mkdir or bail_out("Failed to do mkdir $_: $!\n");
    }
    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

# $TEST_NGINX_FOO in the config sections and user files comes from %ENV; an
# unset one bails out, as in the real one.  (Not in request/response sections:
# the real one does not expand there either.)
sub expand_env {
    my ($text, $name) = @_;
    return $text unless defined $text;
    bail_out("$name - \$TEST_NGINX_RAND_PORT_N is not supported by the compat Test::Nginx")
        if $text =~ /\$TEST_NGINX_RAND_PORT_\d/;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        $ENV{$1} // bail_out("$name - No environment $1 defined.\n")
    }eg;
    return $text;
}

sub write_user_files {
    my $block = shift;
    my $files = $block->user_files or return;
    if (!ref $files) {    # ">>> name [date]" lines, each followed by its body
        my @list;
        for (split /^/, $files) {
            if (/^>>> (\S+)(?:\s+(.+))?/) { push @list, [$1, '', $2] }
            elsif (@list)                 { $list[-1][1] .= $_ }
        }
        $files = \@list;
    }
    for (@$files) {
        my ($fname, $body, $date) = @$_;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        write_file($path, expand_env($body // '', $block->name));
        system("TZ=GMT touch -t '$date' '$path'") == 0
            or bail_out($block->name . " - Failed to set the date of $path\n") if $date;
    }
}

sub write_config_file {
    my ($block, $config, $daemon) = @_;
    my ($http_config, $main_config, $post_main) = map { expand_env($block->$_ // '', $block->name) }
                                                      qw(http_config main_config post_main_config);
    my $server_name = $block->server_name // $ServerName;

    # The real one appends these after main_config; at the very top they also
    # work when main_config uses the loaded modules' directives.
    my $load = join '', map { "load_module $_;\n" } split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';

    # Keep temp files in servroot, not in a distro build's /var/lib/nginx
    # (only for the modules this binary has and the test does not configure).
    my $temp = '';
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        (my $flag = $t) =~ tr/_/-/;
        $temp .= "    ${t}_temp_path $ServRoot/${t}_temp;\n"
            if $NginxV =~ /--http-$flag-temp-path=/ && $http_config !~ /\b${t}_temp_path\b/;
    }

    my $env = join '', map { /\s/ ? "env '$_';\n" : "env $_;\n" } @EnvToNginx;
    my $use = $ENV{TEST_NGINX_EVENT_TYPE} ? "    use $ENV{TEST_NGINX_EVENT_TYPE};\n" : '';
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0             ? "user root;\n"    # as the real one does
             :                       '';
    my $root_loc = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    write_file($ConfFile, <<"_EOC_");
${load}worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env ASAN_OPTIONS;
$env
$main_config

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;
$temp
$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_loc    }
}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
$use}
$user
_EOC_
}

# ---- requests

# "METHOD [URI [VERSION]]\nbody" plus --- more_headers, built as the real one
# does: Host and Connection: close unless given, Content-Length for a body
# (which is then stripped of surrounding whitespace).
sub build_request {
    my ($name, $req, $more) = @_;
    my ($hdr, $chunked) = ('', 0);
    for (grep { !/^\s*#/ } split /\n+/, $more) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $hdr .= "$k: $v\r\n";
    }
    my ($first, $body) = split /\n/, $req, 2;
    my ($meth, $url, $ver, @extra) = split ' ', $first // '';
    bail_out("$name - Request line should be non-empty") unless defined $meth;
    bail_out("$name - Request line is not valid. Should be 'meth [url [version]]'"
             . " but got \"$first\".") if @extra;
    $body //= '';
    if (!$chunked && $body ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $hdr .= 'Content-Length: ' . length($body) . "\r\n";
    }
    my $std = ($hdr =~ /(?:^|\n)Host:/msi ? '' : "Host: $ServerName\r\n")
            . ($hdr =~ /(?:^|\n)Connection/msi ? '' : "Connection: close\r\n");
    return "$meth " . ($url // '/') . ' ' . ($ver // 'HTTP/1.1') . "\r\n$std$hdr\r\n$body";
}

# One raw request per connection; several when --- request is an array.
sub get_requests {
    my $block = shift;
    my $name = $block->name;
    if (defined(my $raw = $block->raw_request)) {
        return [ref $raw eq 'ARRAY' ? join('', @$raw) : $raw];
    }
    my $request = $block->request;
    1 while defined $request && !ref $request && $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    my $more = $block->more_headers // '';
    my @list = ref $request eq 'ARRAY' ? @$request : ($request);
    my @reqs;
    for my $i (0 .. $#list) {
        bail_out("$name - request packet arrays are not supported by the compat Test::Nginx")
            if ref $list[$i];
        my $mh = ref $more ne 'ARRAY' ? $more : $more->[$i]
            // bail_out("$name - --- more_headers lacks data for the ${i}th request");
        push @reqs, build_request($name, $list[$i] // '', $mh);
    }
    return \@reqs;
}

# Send a request and read until the server closes.  Each wait is bounded by
# $timeout of idleness (as in the real one) and the whole by 10 x $timeout.
sub send_request {
    my ($req, $timeout, $block) = @_;
    my $name = $block->name;
    local $SIG{PIPE} = 'IGNORE';    # nginx may close before we finish writing
    my $sock;
    my $connect_deadline = time + ($UseValgrind ? 60 : max($Timeout, 5));
    for (my $try = 1; !$sock; $try++) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout) and last;
        my $err = "$name - Can't connect to $ServerAddr:$ServerPortForClient: $!";
        if ($ChildPid && waitpid($ChildPid, WNOHANG) != 0) {
            fail_no_ending("$err (nginx is gone)\n");
            return;
        }
        if (time > $connect_deadline) {
            bail_out("$err (aborted)\n") if ++$TotalConnectingTimeouts >= 3;
            fail_no_ending("$err (aborted)\n");
            return;
        }
        sleep min(0.5, $TestNginxSleep * $try);
    }
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my ($off, $resp, $timed_out) = (0, '', 0);
    my $hard_deadline = time + 10 * $timeout;
    while (1) {
        my $writing = $off < length $req;
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR && time < $hard_deadline;
            $timed_out = 1;
            last;
        }
        if ($w && @$w) {
            my $n = syswrite($sock, $req, length($req) - $off, $off);
            if (defined $n)     { $off += $n }
            elsif ($! != EAGAIN) { warn "write failed: $!\n"; $off = length $req }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $buf, 4096);
            if (!defined $n) {
                next if $! == EAGAIN;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $buf;
        }
        if (time > $hard_deadline) { $timed_out = 1; last }
    }
    close $sock;
    fail_no_ending("ERROR: client socket timed out - $name\n")
        if $timed_out && !defined $block->abort;
    return $resp;
}

# ---- responses

package Test::Nginx::Socket::Response {
    sub new { my ($class, %f) = @_; bless {%f}, $class }
    sub code { $_[0]{code} }
    sub content { my $s = shift; $s->{content} = shift if @_; $s->{content} }
    # Repeated fields read as one value joined by ", ", as with
    # HTTP::Response->header in scalar context.
    sub header {
        my ($s, $key) = @_;
        my @v = map { $_->[1] } grep { lc $_->[0] eq lc $key } @{ $s->{headers} };
        return @v ? join(', ', @v) : undef;
    }
}

# Returns (response, raw header text, bytes left after the body); on broken
# chunked data fails a test and returns nothing, like the real one.
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my ($status, $rest) = split /\r?\n/, $raw, 2;
    my ($head, $body) = split /\r?\n\r?\n/, "\n" . ($rest // ''), 2;
    my ($code) = ($status // '') =~ m{^\S+\s+(\d+)\b};
    my @headers;
    for (split /\r?\n/, $head) {
        if (/^\s+(.*)/ && @headers) { $headers[-1][1] .= " $1"; next }
        my ($k, $v) = split /\s*:\s*/, $_, 2;
        push @headers, [$k, ($v // '') =~ s/\s+$//r] if defined $k && $k ne '';
    }
    my $res = Test::Nginx::Socket::Response->new(code => $code, headers => \@headers,
                                                 content => $body // '');
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my ($te, $len, $left) = ($res->header('Transfer-Encoding'), $res->header('Content-Length'));
    if (defined $te && $te eq 'chunked') {
        my ($in, $out) = ($res->content, '');
        while ($in !~ /\G0[ \t]*\r\n\r\n/gc) {    # until the last chunk
            my $err;
            if ($in =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                if (length($in) - pos($in) < $size) {
                    $err = 'invalid chunked data received (not enought octets for the data section)';
                } else {
                    $out .= substr $in, pos($in), $size;
                    pos($in) += $size;
                    $err = 'invalid chunked data received (expected CRLF).' if $in !~ /\G\r\n/gc;
                }
            } else {
                $err = $in =~ /\G(.+)/gcs ? "invalid chunked body received: $1"
                                          : "no last chunk found - $in";
            }
            if ($err) { fail_no_ending("$name - $err"); return }
        }
        $left = $1 if $in =~ /\G(.+)/gcs;
        $res->content($out);
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $got = length $res->content;
        warn "WARNING: $name - response body truncated: $len expected, but got $got\n"
            if $got < $len && !$head_req;
        if ($got > $len) {
            $left = substr $res->content, $len;
            $res->content(substr $res->content, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# ---- checks: one TAP test per check, named as in the real one

sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    bail_out("$name - You asked for many requests, the expected results should be arrays as well.")
        if $need_array && ref $value ne 'ARRAY';
    return ref $value eq 'ARRAY' ? $value->[$idx] : $value;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $want = $block->error_code;
    Test::More::is(($res && $res->code) || '',
                   defined $want ? get_indexed_value($name, $want, $idx, $need_array) : 200,
                   "$name - status code ok");
}

# "Name: value" per line, "!Name" for an absent field; later duplicates win.
sub parse_headers {
    my %h;
    for (split /\n/, shift // '') {
        s/^\s+|\s+$//g;
        next if $_ eq '';
        if (s/^!\s*//) { $h{$_} = undef; next }
        my ($k, $v) = split /\s*:\s*/, $_, 2;
        $h{$k} = $v;
    }
    return \%h;
}

sub subst_port {
    my $s = shift;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    return $s;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    # --- response_headers wins over --- response_headers_like
    # (accessors of absent sections return an empty list: ask in scalar context)
    my ($spec, $like) = defined $block->response_headers
        ? (scalar $block->response_headers, 0) : (scalar $block->response_headers_like, 1);
    if (defined $spec) {
        my $h = parse_headers(get_indexed_value($name, $spec, $idx, $need_array));
        for my $key (sort keys %$h) {
            my ($val, $got) = ($h->{$key}, ($res && $res->header($key)) // '');
            if ($like) {
                Test::More::like($got, qr/^$val$/, "$name - header $key like ok");
            } elsif (defined $val) {
                Test::More::is($got, subst_port($val), "$name - header $key ok");
            } else {
                Test::More::unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
            }
        }
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined(my $want = $block->response_body)) {
        $want = get_indexed_value($name, $want, $idx, $need_array);
        return Test::More::like($content, $want,
            "$name - response_body - like (repeated req $rep, req $idx)") if ref $want;
        return is_str($content, defined $want ? subst_port($want) : $want,
            "$name - response_body - response is expected (repeated req $rep, req $idx)");
    }
    for my $type (qw(like unlike)) {
        my $pat = $block->${\"response_body_$type"};
        next unless defined $pat;
        $pat = subst_port(get_indexed_value($name, $pat, $idx, $need_array));
        (my $summary = $content // '') =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        return ($type eq 'like' ? \&Test::More::like : \&Test::More::unlike)->($content,
            qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
    }
}

# New log lines since the last look (all of them with check_accum_error_log).
sub error_log_data {
    sleep $TestNginxSleep * 3;    # let log-phase output land first
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 unless $CheckAccumErrLog;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

sub access_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    return [<$in>];
}

sub line_matches { my ($l, $p) = @_; ref $p ? $l =~ /$p/ : $l =~ /\Q$p\E/ }

# --- error_log / --- access_log: a pass or a fail per pattern.
# --- no_error_log / --- no_access_log: a pass per pattern not found and a
# fail per matching line.  Patterns: lines of text, or eval'ed qr// / arrays.
sub check_log_patterns {
    my ($name, $spec, $lines, $file, $negate, $rep) = @_;
    my @pats = ref $spec eq 'ARRAY' ? @$spec : ref $spec ? ($spec)
             : split /\n+/, $spec =~ s/\n\z//r;
    if (!$negate) {
        for my $line (@$lines) {
            for (grep { defined && line_matches($line, $_) } @pats) {
                Test::More::pass("$name - pattern \"$_\" matches a line in $file (req $rep)");
                undef $_;
            }
        }
        Test::More::fail("$name - pattern \"$_\" should match a line in $file (req $rep)")
            for grep { defined } @pats;
        return;
    }
    my %found;
    for my $i (0 .. $#$lines) {
        for my $pat (grep { line_matches($lines->[$i], $_) } @pats) {
            Test::More->builder->no_ending(1) if $found{$pat}++;
            Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any line"
                . " in $file but matches line \"" . fmt_str($lines->[$i]) . "\" (req $rep)\n"
                . join '', @$lines[$i + 1 .. min($i + 9, $#$lines)]);
        }
    }
    Test::More::pass("$name - pattern \"" . fmt_str($_) . "\" does not match a line in $file (req $rep)")
        for grep { !$found{$_} } @pats;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = error_log_data();

    if (defined(my $grep = $block->grep_error_log)) {
        my $want = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $want;
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        $want = $want->[$rep] if ref $want eq 'ARRAY';
        my $got = '';
        for (@$lines) {
            next unless ref $grep ? /$grep/ : /\Q$grep\E/;
            my $m = $&;
            $got .= "$m\n" if $m !~ /\n/;
        }
        is_str($got, $want, "$name - grep_error_log_out (req $rep)");
    }

    # Like the real one, warn about [alert]/[crit]/[emerg] lines unless the
    # block's own patterns mention that level.
    my %warn = map { $_ => 1 } qw(alert crit emerg);
    for my $neg (0, 1) {
        my $spec = $neg ? $block->no_error_log : $block->error_log;
        next unless defined $spec;
        for my $lvl (keys %warn) {
            delete $warn{$lvl} if grep { "$_" =~ /\Q[$lvl\E/ } ref $spec eq 'ARRAY' ? @$spec : $spec;
        }
        check_log_patterns($name, $spec, $lines, 'error.log', $neg, $rep);
    }
    for my $line (@$lines) {
        warn "WARNING: $name - " . fmt_str($line) . "\n" if grep { $line =~ /\[$_\]/ } keys %warn;
        fail_no_ending("$name - " . fmt_str($line) . "\n") if $line =~ /\bAssertion .*?failed\b/;
        # UBSan's reports (make test-asan) reach nginx's stderr, that is this log
        fail_no_ending("$name - " . fmt_str($line) . "\n") if $line =~ /:\d+:\d+: runtime error: /;
    }
}

sub check_access_log {
    my ($block, $rep) = @_;
    my $lines;
    for my $neg (0, 1) {
        my $spec = $neg ? $block->no_access_log : $block->access_log;
        next unless defined $spec;
        $lines ||= access_log_data();
        check_log_patterns($block->name, $spec, $lines, 'access.log', $neg, $rep);
    }
}

# ---- per block

sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $reqs = get_requests($block);
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $need_array = @$reqs > 1;
    for my $idx (0 .. $#$reqs) {
        my $raw = send_request($reqs->[$idx], $timeout, $block) // '';
        if (!defined $block->ignore_response) {
            my ($res, $raw_headers, $left) =
                parse_response($name, $raw, $reqs->[$idx] =~ /^\s*HEAD\s+/);
            if ($left) {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in response: \"$left\"\n";
            }
            check_error_code($block, $res, $idx, $need_array);
            check_response_headers($block, $res, $raw_headers, $idx, $need_array);
            check_response_body($block, $res, $idx, $rep, $need_array);
        }
        # logs are checked after every request, as in the real one
        sleep $block->wait if $block->wait;
        check_error_log($block, $rep);
        check_access_log($block, $rep) unless defined $block->ignore_response;
    }
}

# --- must_die: nginx has to refuse to start (checked RepeatEach times).
# Under valgrind the refusal runs under memcheck too, which the real one
# does not do: what the module allocated for a configuration that nginx
# then refuses (a reload's in a running master) must not leak either.
sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my $status = run_nginx_once($UseValgrind ? valgrind_cmd() : ());
        check_valgrind($name) if $UseValgrind;
        if ($status >> 8 == 127 && !-s $StderrFile) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 128) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, $i);
        next if $status;
        warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
        stop_nginx($name);
    }
}

# --- skip_nginx: "N: < 1.2.3[: reason]" skips the block's N tests.
sub skip_spec {
    my $block = shift;
    my $spec = $block->skip_nginx;
    return unless defined $spec;
    my ($n, $op, @v) = $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
        or bail_out($block->name . " - Invalid --- skip_nginx spec: $spec");
    my $reason = pop(@v) || "nginx version $op " . join '.', @v;
    my ($have, $ver) = ($NginxVersion, canon_version(@v));
    my $skip = $op eq '<' ? $have < $ver : $op eq '<=' ? $have <= $ver
             : $op eq '>' ? $have > $ver : $have >= $ver;
    return $skip ? ($n, $reason) : ();
}

# Sections whose real semantics are not implemented here: stop loudly rather
# than produce other test counts or silently skip checks.
my @Unsupported = qw(http2 http3 pipelined_requests stap stap_out stap_out_like
    stap_out_unlike tcp_listen udp_listen shutdown_error_log no_shutdown_error_log
    curl raw_request_middle_delay response_body_filters server_addr_for_client
    reload_fails skip_nginx2 skip_openssl skip_slave skip_eval todo todo_nginx
    request_eval response_body_eval error_log_file http09 shutdown charset
    error_code_like raw_response_headers_like raw_response_headers_unlike);

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;
    exists $block->{$_} and bail_out("$name - section --- $_ is not supported by the compat"
        . " Test::Nginx in t/lib/compat; install the real Test::Nginx") for @Unsupported;

    my $config = expand_env(scalar $block->config, $name);
    # under valgrind nginx stops after every block: start the previous one anew
    $config //= $PrevConfig if $UseValgrind;
    local $LogLevel = $block->log_level || $LogLevel;
    my $must_die = $block->must_die;
    my ($skip_n, $skip_reason) = skip_spec($block);

    if (!defined $config) {
        # as in the real one, the server still running from the previous block
        # is reused; the first block needs a --- config
        bail_out("$name - No '--- config' section specified and could not get previous one.")
            if !$NoNginxManager && !defined $PrevConfig;
    } elsif (!$NoNginxManager && !defined $skip_n) {
        stop_nginx($name);
        setup_server_root();
        write_user_files($block);
        # valgrind wants nginx in the foreground; must_die never uses valgrind
        write_config_file($block, $config, $UseValgrind && !defined $must_die ? 'off' : 'on');
        $PrevConfig = $config;
        return run_must_die($block, $must_die) if defined $must_die;
        start_nginx($name);
    }

    # --- init: Perl code run once, after the block's nginx is started and
    # before its first request, as the real one does: state a request must
    # find (a paused Redis, a lock set now) is set up here, not by a block
    # preprocessor, which runs before nginx is stopped and started again.
    if (my $init = $block->init) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        if (defined $skip_n) {
            SKIP: { Test::More::skip("$name - $skip_reason", $skip_n) }
            next;
        }
        write_user_files($block) if $i > 1;
        run_requests($block, $i - 1);
    }
    return unless $UseValgrind;
    stop_nginx($name);    # leak reports right after the block
    check_valgrind($name);
}

# The real Test::Nginx leaves valgrind's reports on stderr for a person to
# read; here they also fail the run: each report of memcheck's (an error,
# or a leak that --show-possibly-lost=no still shows: a definite one) that
# no suppression matched is one failed test, named after its first line.
sub check_valgrind {
    my $name = shift;
    for my $log (sort glob "$ValgrindDir/*.log") {
        my $text = slurp($log);
        unlink $log;
        next unless $text =~ /\S/;
        warn $text;
        # records start unindented after "==PID== "; stack frames and
        # details are indented; "Warning:" lines are valgrind's notes
        my @found = grep { !/^==\d+== Warning: / } $text =~ /^(==\d+== \S.*|valgrind: .*)$/mg;
        Test::More::fail("$name - valgrind: $_") for @found;
    }
}

sub run_tests () {
    $NginxVersion = get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    my @blocks = Test::Base::blocks();
    for my $block ($NoShuffle ? @blocks : shuffle @blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
    }
    cleanup();
}

1;
