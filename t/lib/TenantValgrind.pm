package TenantValgrind;

# make test-valgrind (TEST_NGINX_USE_VALGRIND) for the nginx that plain
# Test::More files start themselves (TenantIdp's gateways, TenantNginx's
# instances, TenantMetrics' gateways): nginx under memcheck as
# Test::Nginx runs its own, with the runner's options (and VALGRIND_OPTS,
# which tools/test-valgrind fills with the suppressions), in the
# foreground, each process reporting to a file of its own; every report,
# an error or a definite leak, is a failed test.
#
# A master's workers are forked, not executed: valgrind keeps them under
# memcheck without --trace-children (which follows exec), and "%p" in the
# log file's name gives each its own report, read once the master has
# exited.  So do the workers of a reload (HUP), which the master forks
# after reading the configuration anew.
#
#   my ($pid, $rc) = TenantValgrind::start($dir, $ready, $nginx, @args);
#   ...                                   # $pid undef: exited with $rc
#   TenantValgrind::stop($pid, $dir, 'gateway a');   # QUIT, reports
#   my $out = `@{[ TenantValgrind::wrap($dir, $nginx) ]} -t ...`;
#   TenantValgrind::check($dir, 'nginx -t');         # its reports
#   sleep scaled(0.5);      # a wait on nginx, ten times longer under it

use strict;
use warnings;

use File::Path qw(make_path);
use POSIX ();
use Test::More ();
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT_OK = qw(scaled);

our $ON = $ENV{TEST_NGINX_USE_VALGRIND};

# Test::Nginx's command line: a number asks for its defaults, anything
# else is valgrind's options
our @OPTS = !$ON ? ()
    : $ON =~ /^\d+$/
    ? qw(--num-callers=100 -q --tool=memcheck --leak-check=full
         --show-possibly-lost=no --gen-suppressions=all)
    : ('-q', split ' ', $ON);

# nginx under memcheck answers in tens of milliseconds, not tenths, and
# takes seconds to start and to stop (the leak check at exit)
our $SCALE = !$ON ? 1 : $ENV{TEST_NGINX_VALGRIND_SCALE} || 10;

sub on { $ON }

# scaled($seconds): a wait on nginx, or a bound on how long it takes
sub scaled { $_[0] * $SCALE }

# start($dir, $ready, @nginx_command): the command (nginx told to stay in
# the foreground) under memcheck, its stderr in $dir/logs/stderr, its
# reports in $dir/valgrind; ($pid) once $ready->($pid) is true, or
# (undef, exit status) when nginx exited first (a configuration it
# refused: its reports are checked then)
sub start {
    my ($dir, $ready, @cmd) = @_;
    make_path("$dir/valgrind", "$dir/logs");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$dir/logs/stderr";
        exec('valgrind', "--log-file=$dir/valgrind/%p.log", @OPTS, @cmd)
            or POSIX::_exit(127);
    }
    my $deadline = time + scaled(6);
    while (time < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            my $rc = $?;
            check($dir, "nginx under valgrind");
            return (undef, $rc);
        }
        return ($pid) if $ready->($pid);
        sleep 0.05;
    }
    return ($pid);
}

# wrap($dir, @command): the command, under memcheck when asked for, its
# reports in $dir/valgrind for check() (an "nginx -t" that must refuse a
# configuration, say: what the module allocated for it must not leak)
sub wrap {
    my ($dir, @cmd) = @_;
    return @cmd unless $ON;
    make_path("$dir/valgrind");
    return ('valgrind', "--log-file=$dir/valgrind/%p.log", @OPTS, @cmd);
}

# stop($pid, $dir, $what): QUIT, and the reports once every process
# exited (the leak check at exit takes a while under memcheck)
sub stop {
    my ($pid, $dir, $what) = @_;
    kill 'QUIT', $pid;
    my $deadline = time + scaled(12);
    while (time < $deadline) {
        last if waitpid($pid, POSIX::WNOHANG()) != 0;
        sleep 0.05;
    }
    if (kill 0, $pid) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
        Test::More::fail("$what under valgrind: $pid did not stop in "
                         . scaled(12) . ' s');
    }
    check($dir, $what);
}

# check($dir, $what): each report of memcheck's in $dir/valgrind (an
# error, a definite leak) a failed test; the reports read are removed
sub check {
    my ($dir, $what) = @_;
    for my $log (sort glob "$dir/valgrind/*.log") {
        open my $fh, '<', $log or next;
        my $text = do { local $/; <$fh> };
        unlink $log;
        next unless $text =~ /\S/;
        Test::More::diag($text);
        # details are indented; "Warning:" lines are valgrind's notes
        Test::More::fail("$what under valgrind: $_")
            for grep { !/^==\d+== Warning: / }
                $text =~ /^(==\d+== \S.*|valgrind: .*)$/mg;
    }
}

# worker_pids($master): its workers, the old ones shutting down too (in
# scalar context: how many; a sort there would be undef).
# Under memcheck every process's command line is valgrind's (nginx sets
# its process title in its own copy of argv): there, the children of the
# master are taken for workers, which they are (no cache manager here).
sub worker_pids {
    my ($master) = @_;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $s = <$fh> // next;
        my ($pid, $state, $ppid) = $s =~ /^(\d+) \(.*\) (\S) (\d+)/ or next;
        next unless $ppid == ($master || -1) && $state ne 'Z';
        next if !$ON && !is_worker($pid);
        push @w, $pid;
    }
    @w = sort { $a <=> $b } @w;
    return @w;
}

sub is_worker {
    open my $fh, '<', "/proc/$_[0]/cmdline" or return 0;
    my $cmd = <$fh> // '';
    return $cmd =~ /worker process/;
}

1;
