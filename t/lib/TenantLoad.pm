package TenantLoad;

# Steady load on TenantNginx gateways from forked clients, for tests
# that change the Redis topology while requests keep coming: one client
# per (gateway, tenant), each a keep-alive HTTP::Tiny sending requests
# one after the other until told to stop, recording every answer.
#
#   my $load = load_start([$ga, $gb], ['busy', 'other'], path => '/api-deny');
#   ... change the topology ...
#   my @r = load_stop($load);
#   # ({ at, tenant, gw, status, limit, error, took }, ...) sorted by "at"
#
# "at" is when the answer came (time(), the same clock as the test's),
# "took" how long it took.  A client stops on its own after 60 s.

use strict;
use warnings;

use HTTP::Tiny;
use Time::HiRes qw(time sleep);

use TenantNginx;

use Exporter 'import';
our @EXPORT = qw(load_start load_stop load_count load_summary wait_passes
                 failure_window fire wrk_load);

my $seq = 0;

# load_start(\@gateways, \@tenants, path => '/api', plan => 'big',
#            pace => seconds between a client's requests (0),
#            clients => clients per gateway and tenant (1))
sub load_start {
    my ($gws, $tenants, %o) = @_;
    my $dir = "$TenantNginx::TMP/load" . ++$seq;
    mkdir $dir or die "$dir: $!";
    my $h = { dir => $dir, stop => "$dir/stop", pids => [], files => [] };
    for my $g (@$gws) {
        for my $t (map { my $t = $_; ($t) x ($o{clients} || 1) } @$tenants) {
            my $file = "$dir/$g->{name}-$t-" . @{ $h->{files} };
            my $tok = token($t, $o{plan});
            push @{ $h->{files} }, $file;
            push @{ $h->{pids} }, spawn_client($file, sub {
                my ($out) = @_;
                my $ua = HTTP::Tiny->new(keep_alive => 1,
                                         timeout => scaled(5));
                my $end = time + 55;
                until (-e $h->{stop} || time > $end) {
                    my $r = api($g, $tok, path => $o{path} || '/api',
                                ua => $ua);
                    printf {$out} "%.4f %s %s %s %s %s %.4f\n", $r->{at}, $t,
                        $g->{name}, $r->{status}, $r->{limit} || '-',
                        $r->{error} || '-', $r->{took};
                    sleep $o{pace} if $o{pace};
                }
            });
        }
    }
    # every client has answered once before the caller goes on
    for my $f (@{ $h->{files} }) {
        for (1 .. 250 * $TenantValgrind::SCALE) { last if -s $f; sleep 0.02 }
    }
    return $h;
}

sub load_stop {
    my ($h) = @_;
    open my $s, '>', $h->{stop} or die "$h->{stop}: $!";
    close $s;
    wait_kids(@{ $h->{pids} });
    my @r;
    for my $f (@{ $h->{files} }) {
        for my $l (result_lines($f)) {
            die "a load client died: @$l\n" if $l->[0] eq 'DIED';
            my %r;
            @r{qw(at tenant gw status limit error took)} = @$l;
            $r{$_} = '' for grep { $r{$_} eq '-' } qw(limit error);
            push @r, \%r;
        }
    }
    return sort { $a->{at} <=> $b->{at} } @r;
}

# fire(\@gateways, $token, $path, $per_gateway, $each): $per_gateway
# clients on each gateway, each sending $each requests one after the
# other on its keep-alive connection, every answer read: { status => n },
# and in list context also the longest any request took (seconds)
sub fire {
    my ($gws, $tok, $path, $per, $each) = @_;
    my $dir = "$TenantNginx::TMP/fire" . ++$seq;
    mkdir $dir or die "$dir: $!";
    my (@files, @pids);
    for my $g (@$gws) {
        for my $c (1 .. $per) {
            my $file = "$dir/$g->{name}-$c";
            push @files, $file;
            push @pids, spawn_client($file, sub {
                my ($out) = @_;
                my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
                my (%s, $longest);
                for (1 .. $each) {
                    my $r = api($g, $tok, path => $path, ua => $ua);
                    $s{ $r->{status} }++;
                    $longest = $r->{took}
                        if !defined $longest || $r->{took} > $longest;
                }
                print {$out} "$_ $s{$_}\n" for keys %s;
                print {$out} "took $longest\n";
            });
        }
    }
    wait_kids(@pids);
    my (%status, $longest);
    for my $f (@files) {
        for my $l (result_lines($f)) {
            die "a client died: @$l\n" if $l->[0] eq 'DIED';
            if ($l->[0] eq 'took') {
                $longest = $l->[1] if !defined $longest || $l->[1] > $longest;
                next;
            }
            $status{ $l->[0] } += $l->[1];
        }
    }
    return wantarray ? (\%status, $longest) : \%status;
}

# wrk_load(\@gateways, $token, $path, $seconds, $connections): one wrk
# on each gateway at once, as fast as it goes (more than a Perl client
# can send); { status => n } of the answers wrk read, and the window in
# seconds from before the first wrk started to after the last ended.
# The requests in flight when wrk stops are sent but not read.
sub wrk_load {
    my ($gws, $tok, $path, $secs, $conns) = @_;
    my ($wrk) = grep { -x } map { "$_/wrk" } split /:/, $ENV{PATH};
    die "no wrk (apt-get install wrk)\n" unless $wrk;
    my $dir = "$TenantNginx::TMP/wrk" . ++$seq;
    mkdir $dir or die "$dir: $!";
    open my $fh, '>', "$dir/status.lua" or die "$dir/status.lua: $!";
    print $fh <<'_LUA_';
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status) counts[status] = (counts[status] or 0) + 1 end
function done()
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do io.write("status ", s, " ", n, "\n") end
  end
end
_LUA_
    close $fh;
    my $start = time;
    my @pids;
    for my $g (@$gws) {
        push @pids, spawn_client("$dir/$g->{name}", sub {
            my ($out) = @_;
            print {$out} scalar `$wrk -t1 -c$conns -d${secs}s -s $dir/status.lua -H 'Authorization: Bearer $tok' http://127.0.0.1:$g->{port}$path 2>&1`;
        });
    }
    wait_kids(@pids);
    my $window = time - $start;
    my %status;
    for my $g (@$gws) {
        my $text = TenantNginx::slurp("$dir/$g->{name}");
        die "wrk on $g->{name}: $text" unless $text =~ /^status /m;
        $status{$1} += $2 while $text =~ /^status (\d+) (\d+)$/mg;
    }
    return (\%status, $window);
}

# load_count(\@records, sub { ... }): how many match
sub load_count {
    my ($r, $match) = @_;
    return scalar grep { $match->($_) } @$r;
}

# "200 PASSED x812, 503 UNAVAILABLE limiter_unavailable x3"
sub load_summary {
    my %n;
    $n{ join ' ', grep { length } $_->{status}, $_->{limit}, $_->{error} }++
        for @_;
    return join ', ', map { "$_ x$n{$_}" } sort keys %n;
}

# wait_passes($gateway, $tenant, $seconds, path => '/api'): true once
# four requests in a row are 200 PASSED (so that, at the least, the
# worker that answers most is served), polled; false past $seconds
# (scaled: longer under memcheck)
sub wait_passes {
    my ($g, $t, $limit, %o) = @_;
    my $tok = token($t, $o{plan});
    my $end = time + scaled($limit);
    while (time < $end) {
        my $ok = 0;
        for (1 .. 4) {
            $ok++ if api($g, $tok, path => $o{path} || '/api')->{limit} eq 'PASSED';
        }
        return 1 if $ok == 4;
        sleep 0.05;
    }
    return 0;
}

# failure_window(\@records): [first, last] "at" of the answers that are
# not "200 PASSED", and how many; undef when there are none
sub failure_window {
    my ($r) = @_;
    my @f = grep { !($_->{status} == 200 && $_->{limit} eq 'PASSED') } @$r;
    return undef unless @f;
    return [ $f[0]{at}, $f[-1]{at}, scalar @f ];
}

1;
