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
                 failure_window);

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
