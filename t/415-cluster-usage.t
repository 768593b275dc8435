#!/usr/bin/perl
#
# tenant_usage with tenant_redis cluster=on: the monthly listing goes
# through every master of the slot map, one after the other, its cursor
# "I-C" (the I-th master's SCAN cursor C), next_cursor null after the
# last master's last page; every tenant, wherever its slot is, is listed
# with exactly the requests it was admitted.  One tenant's read goes to
# the master of its slot.  A cursor that is not one of the listing's is
# refused with 400 invalid_request.
#
# A plain Test::More script, as t/410-redis-cluster.t and for the same
# reason (nginx keeps running over the cluster): the cluster is
# t/lib/TenantCluster.pm's, three masters and a replica each, started
# once for the file (the listing goes through the masters, never a
# replica); TenantNginx runs the gateway (master + 1 worker) with
#
#   tenant_redis cluster=on timeout=200ms;
#   tenant_redis_cluster 127.0.0.1:P1 127.0.0.1:P2;
#
# and a server of its own with "location /usage { tenant_usage; }".
# Everything started here is stopped in END, on failure too; bounded by
# an alarm.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;
use TenantCluster;

$SIG{ALRM} = sub { die "415-cluster-usage.t: time limit (120 s) reached\n" };
alarm 120;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my @M = cl_masters();          # "127.0.0.1:P" x 3

sub free_port { TenantNginx::free_port() }
sub wait_until { cl_wait($_[0], $_[1], 0.05) }

# ---- the gateway, and its usage endpoint

my $UP = free_port();
my $N = eval { nginx_start('a', redis => <<"_EOC_") }
    tenant_redis cluster=on timeout=200ms;
    tenant_redis_cluster @{[ (cl_seeds())[0, 1] ]};

    server {
        listen 127.0.0.1:$UP;
        location /usage {
            tenant_usage;
        }
    }
_EOC_
    or do { fail("nginx starts with cluster=on and tenant_usage: $@"); done_testing(); exit 1 };

my $UA = TenantNginx::ua(1);

# GET /usage?QUERY: (status, decoded body or undef, raw body)
sub usage {
    my ($query) = @_;
    my $r = $UA->get("http://127.0.0.1:$UP/usage?$query");
    my $json = eval { decode_json($r->{content}) };
    return ($r->{status}, $json, $r->{content});
}

sub pass_ok { my $r = shift; "$r->{status} $r->{limit}" eq '200 PASSED' }

sub month { strftime('%Y-%m', gmtime) }

ok wait_until(5, sub { pass_ok(api($N, token('warmup'))) }), 'a first decision passes';
ok wait_until(5, sub { error_log($N) =~ /slot map read from/ }), 'the worker has read the slot map';

# 40 tenants, 1 to 4 requests each: the usage's "requests"; the first
# decision's tenant has one (those before it were not admitted by Redis)
my $MONTH = month();
my (%sent, %on) = (warmup => 1);
for my $i (1 .. 40) {
    my $id = "u$i";
    for (1 .. 1 + $i % 4) {
        my $r = api($N, token($id), path => '/api-deny');
        $sent{$id}++ if pass_ok($r);
    }
    $on{cl_node_of_key($id) // 'none'}{$id} = 1;
}
# the usage hash is named by the month: never straddle its end
plan skip_all => 'the month changed while the requests were sent'
    if month() ne $MONTH;

is_deeply [map { $sent{"u$_"} // 0 } 1 .. 40], [map { 1 + $_ % 4 } 1 .. 40],
          'every request of the 40 tenants is admitted';
is scalar(grep { keys %{ $on{$_} || {} } } @M), 3,
   'the tenants are on all three masters: '
   . join ', ', map { "$_: " . scalar(keys %{ $on{$_} || {} }) } @M;

# a hash of another month, on some master: not listed for this one
cl_run('tenant:{u1}:usage:1999-01', 'HSET', 'tenant:{u1}:usage:1999-01', 'requests', 99);

subtest 'a. the listing, 5 keys at a time, goes through every master and ends' => sub {
    my ($cursor, %got, @cursors, $pages, %masters, $dup) = ('0');
    while (1) {
        last if ++$pages > 200;
        my ($status, $page, $raw) = usage("period=$MONTH&count=5&cursor=$cursor");
        is $status, 200, "page $pages (cursor $cursor): 200" or return diag $raw;
        $masters{$page->{masters} // 'none'}++;
        for my $t (@{ $page->{tenants} }) {
            $dup++ if exists $got{$t->{tenant}}
                      && $got{$t->{tenant}} != $t->{requests};
            $got{$t->{tenant}} = $t->{requests};
            is_deeply $t->{meters}, {}, "$t->{tenant}: no meters";
        }
        last unless defined $page->{next_cursor};
        $cursor = $page->{next_cursor};
        push @cursors, $cursor;
    }
    cmp_ok $pages, '<=', 200, "the listing ends, after $pages pages";
    is_deeply [keys %masters], [3], 'every page says: 3 masters';
    ok !(grep { !/^[0-2]-\d+$/ } @cursors), 'every cursor is "I-C", I a master (0 to 2)'
        or diag "@cursors";
    my @index = map { /^(\d+)-/ } @cursors;
    is_deeply [sort { $a <=> $b } @index], \@index, 'the masters are gone through in order';
    ok((grep { $_ eq '1-0' } @cursors) && (grep { $_ eq '2-0' } @cursors),
       'the second and the third master are started from 0');
    ok !$dup, 'a tenant listed twice has the same figures';
    is_deeply \%got, \%sent, 'every tenant is listed with exactly its requests, and no other';
};

subtest 'b. count=1000: every master\'s page in turn, short pages included' => sub {
    my ($cursor, %got, $pages) = ('0');
    while (1) {
        last if ++$pages > 10;
        my ($status, $page) = usage("period=$MONTH&count=1000&cursor=$cursor");
        is $status, 200, "page $pages: 200";
        $got{$_->{tenant}} = $_->{requests} for @{ $page->{tenants} };
        last unless defined $page->{next_cursor};
        $cursor = $page->{next_cursor};
    }
    is $pages, 3, 'three pages: one a master';
    is_deeply \%got, \%sent, 'every tenant, with its requests';
};

subtest 'c. one tenant\'s usage is read on the master of its slot' => sub {
    for my $m (@M) {
        my ($id) = sort keys %{ $on{$m} };
        my ($status, $body, $raw) = usage("tenant=$id&period=$MONTH");
        is $status, 200, "tenant $id (on $m): 200";
        is $raw, qq({"tenant":"$id","period":"$MONTH","requests":$sent{$id},"meters":{}}\n),
           "its $sent{$id} requests";
    }
    my ($status, undef, $raw) = usage("tenant=nobody&period=$MONTH");
    is "$status $raw", qq(200 {"tenant":"nobody","period":"$MONTH","requests":0,"meters":{}}\n),
       'a tenant without usage reads as zero';
    ($status, undef, $raw) = usage('tenant=u1&period=1999-01');
    is "$status $raw", qq(200 {"tenant":"u1","period":"1999-01","requests":99,"meters":{}}\n),
       'another month of the same tenant';
};

subtest 'd. a month nobody used: an empty page a master, then null' => sub {
    my @c;
    my ($cursor, $pages) = ('0', 0);
    while (++$pages <= 10) {
        my ($status, $page, $raw) = usage("period=2001-02&cursor=$cursor");
        is $status, 200, "page $pages: 200";
        is_deeply $page->{tenants}, [], 'no tenant';
        last unless defined $page->{next_cursor};
        push @c, $cursor = $page->{next_cursor};
    }
    is_deeply \@c, ['1-0', '2-0'], 'the cursors: "1-0", "2-0", then null';
};

subtest 'e. a cursor that is not one of the listing\'s: 400 invalid_request' => sub {
    my $pos = length error_log($N);
    for my $c ('garbage', '1712', '3-0', '9999-0', '01-0', '0-', '-0', '0--1',
               '1-x', '1-18446744073709551616', '12345-0', '1-0-0', '', '%2D1-0')
    {
        my ($status, $body) = usage("period=$MONTH&cursor=$c");
        is "$status " . ($body->{error} // ''), '400 invalid_request', "cursor \"$c\": 400 invalid_request";
    }
    like error_log_since($N, $pos),
         qr/rejected with "invalid_request": "cursor" names a redis cluster master the slot map has no more/,
         'a master out of range is told apart in the log';
    my ($status, $body) = usage("period=$MONTH&cursor=0-0&count=1");
    is $status, 200, 'cursor "0-0" is the first master\'s start';
    is $body->{masters}, 3, 'the page says 3 masters';
    ($status) = usage("period=$MONTH&cursor=2-0&count=1");
    is $status, 200, 'cursor "2-0", the last master\'s start, is valid';
};

unlike error_log($N), qr/\[(?:error|alert|crit|emerg)\]/, 'no [error] or worse logged';

done_testing();
