#!/usr/bin/perl
#
# tenant_limit_lease against a Redis that lies: the lease's reply (see
# ngx_http_tenant_script.c, "ARGV[18]") granting more than max, units with
# a refusal, a T or a give-back key of the wrong type, an array cut short
# at every length, numbers no Lua script computes, an error, nested arrays;
# garbage in reply to a give-back.  A malformed reply must never become a
# lease: the request gets tenant_redis_failure (503 limiter_unavailable
# with deny, admitted with allow), the error log says "unexpected script
# reply", and the next requests are decided by Redis again, each asking
# for a lease (no unit kept, no slot left pending).  A well-formed grant
# from the same liar is used (its units admitted without a round trip), so
# that the test can tell.
#
# A real redis-server computes the reply with the module's own Lua and
# cannot be made to lie: the liar here is a RESP server of a few lines,
# forked on a free loopback port and stopped in END.  It answers PING,
# AUTH, SELECT and SCRIPT LOAD (with the SHA-1 of what was loaded), and
# answers EVALSHA by the tenant ID in KEYS[1]'s hash tag: a tenant's first
# decisions get its scenario's replies, the later ones a well-formed grant
# of one unit (so every request asks Redis), a give-back its scenario's
# reply or { 0, "", "" }.  A token's first request in a location is
# decided exactly (no lease asked): the liar answers it truthfully.  It writes what it was asked to a file: "D
# TENANT ARGV[18]" for a decision, "G TENANT UNITS LENGTH-OF-KEYS[1]" for
# a give-back.
#
# One nginx with one worker (TenantNginx).  Its upstream logs each request
# it sees with its tenant and path.  Failures are logged once a second
# (ngx_http_tenant_redis_vlog()): each scenario starts in a second of its
# own, so that its line is never folded into a count.  Numbers beyond
# 2^63 - 1 once overflowed silently: run it under make test-asan too.

use strict;
use warnings;

use lib 't/lib';

use Test::More;
use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

use TenantTest;
use TenantNginx;

$SIG{ALRM} = sub { die "703-leases-hostile.t: time limit (240 s) reached\n" };
alarm 240;

if (my $why = TenantNginx::cannot_run()) { plan skip_all => $why }

my $MAX = 8;
my $LOG = "$TenantNginx::TMP/liar.log";
my $SEEN = "$TenantNginx::TMP/upstream.log";
my $INT64_MAX = '9223372036854775807';
my $INT64_MIN = '-9223372036854775808';

# ---- the liar

# RESP of a Perl value: an array ref is an array, undef nil, a string of
# digits an integer, a reference to a string a bulk string whatever it
# holds, { err => TEXT } an error, { ok => TEXT } a status, other strings
# bulk strings
sub resp {
    my ($v) = @_;
    return "\$-1\r\n" unless defined $v;
    if (ref $v eq 'ARRAY') {
        return '*' . @$v . "\r\n" . join '', map { resp($_) } @$v;
    }
    return '$' . length($$v) . "\r\n$$v\r\n" if ref $v eq 'SCALAR';
    if (ref $v eq 'HASH') {
        return "-$v->{err}\r\n" if exists $v->{err};
        return "+$v->{ok}\r\n";
    }
    return ":$v\r\n" if $v =~ /\A-?\d+\z/;
    return '$' . length($v) . "\r\n$v\r\n";
}

# the reply the script gives to a lease of $n units of the plan nginx
# sent, as it computes it for a tenant with nothing counted yet (KEYS and
# ARGV indexed from 1, as in Lua)
sub grant {
    my ($k, $a, $n) = @_;
    my ($T, $tau) = ($a->[7] || 0, $a->[8] || 0);
    return [0, 'active', $a->[4],
            $T ? int($tau / $T) - ($n - 1) : -1, 1, 0,
            $a->[9] ne '' ? $n : -1, -2, -2,
            $a->[9] ne '' ? $a->[10] - int(time) : -1,
            $n, $T, $k->[3], $a->[9] ne '' ? $k->[4] : '', '',
            "$k->[1]:usage:$a->[16]",
            $a->[1] =~ /L/ ? 'requests' : '', $a->[6]];
}

# a grant of $n with element $i replaced by $v (pairs of them)
sub lie {
    my ($n, @set) = @_;
    return sub {
        my $r = grant(@_, $n);
        my @s = @set;
        while (my ($i, $v) = splice @s, 0, 2) { $r->[$i] = $v }
        return $r;
    };
}

my (%DECIDE, %GIVE);    # tenant => [ reply for the 1st decision, ... ]

# the first command from $$buf, or undef until it is all there
sub command {
    my ($buf) = @_;
    pos($$buf) = 0;
    return undef unless $$buf =~ /\G\*(\d+)\r\n/gc;
    my @args;
    for (1 .. $1) {
        return undef unless $$buf =~ /\G\$(\d+)\r\n/gc;
        my ($len, $at) = ($1, pos $$buf);
        return undef if length($$buf) < $at + $len + 2;
        push @args, substr($$buf, $at, $len);
        pos($$buf) = $at + $len + 2;
    }
    substr($$buf, 0, pos $$buf) = '';
    return \@args;
}

sub note_asked {
    open my $fh, '>>', $LOG or die "$LOG: $!";
    print {$fh} "@_\n";
    close $fh;
}

sub answer {
    my ($cmd, $state) = @_;
    my $c = uc $cmd->[0];
    return { ok => 'PONG' } if $c eq 'PING';
    return { ok => 'OK' } if $c eq 'AUTH' || $c eq 'SELECT';
    if ($c eq 'SCRIPT' && uc($cmd->[1] // '') eq 'LOAD') {
        $state->{sha}{ sha1_hex($cmd->[2]) } = 1;
        return \sha1_hex($cmd->[2]);
    }
    return { err => "ERR unknown command '$cmd->[0]'" }
        unless $c eq 'EVALSHA' || $c eq 'EVAL';
    return { err => 'NOSCRIPT No matching script. Please use EVAL.' }
        if $c eq 'EVALSHA' && !$state->{sha}{ $cmd->[1] };

    my $nkeys = $cmd->[2];
    my $k = [undef, @$cmd[3 .. 2 + $nkeys]];
    my $a = [undef, @$cmd[3 + $nkeys .. $#$cmd]];
    my ($tenant) = ($k->[1] // '') =~ /\{([^}]*)\}/;
    $tenant //= '?';

    if ($a->[1] eq 'G') {
        note_asked('G', $tenant, $a->[2], length $k->[1]);
        return $GIVE{$tenant} ? $GIVE{$tenant}->($k, $a) : [0, '', ''];
    }

    # a token's first request in a worker is decided exactly (no
    # ARGV[18]): the warm-up before each scenario, answered truthfully
    if (!defined $a->[18] && $tenant !~ /^x-/) {
        note_asked('W', $tenant);
        return [0, 'active', $a->[4]];
    }

    my $i = $state->{calls}{$tenant}++;
    note_asked('D', $tenant, $a->[18] // '-');
    my $f = ($DECIDE{$tenant} || [])->[$i] || sub { grant(@_, 1) };
    return $f->($k, $a);
}

sub serve {
    my ($listen) = @_;
    my $sel = IO::Select->new($listen);
    my (%buf, %state);
    while (1) {
        for my $s ($sel->can_read) {
            if ($s == $listen) {
                my $c = $listen->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $got = sysread $s, my $chunk, 65536;
            if (!$got) {
                $sel->remove($s);
                delete $buf{$s};
                close $s;
                next;
            }
            $buf{$s} .= $chunk;
            while (my $cmd = command(\$buf{$s})) {
                my $out = resp(answer($cmd, \%state));
                while (length $out) {
                    my $w = syswrite $s, $out;
                    last unless $w;
                    substr($out, 0, $w) = '';
                }
            }
        }
    }
}

my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, Proto => 'tcp',
                                   ReuseAddr => 1)
    or die "no port for the liar: $!";
my $LPORT = $listen->sockport;
my $owner = $$;
my $liar;

# the scenarios are set up before the fork: see below
sub liar_start {
    $liar = fork;
    die "fork: $!" unless defined $liar;
    if ($liar == 0) {
        $SIG{ALRM} = 'DEFAULT';
        alarm 300;
        eval { serve($listen) };
        POSIX::_exit(0);
    }
    close $listen;
}

END {
    local $?;
    if ($$ == $owner && $liar) {
        kill 'KILL', $liar;
        waitpid $liar, 0;
    }
}

# ---- scenarios: tenant => its first decisions' replies

my %MALFORMED = (
    # GRANTED
    'g-over-max'      => lie($MAX, 10 => $MAX + 1),
    'g-int64'         => lie($MAX, 10 => $INT64_MAX),
    'g-negative'      => lie($MAX, 10 => -1),
    'g-string'        => lie($MAX, 10 => \'5'),
    'g-nil'           => lie($MAX, 10 => undef),
    'g-array'         => lie($MAX, 10 => [5]),
    'g-rate-refusal'  => lie(5, 0 => 3),
    'g-quota-refusal' => lie(1, 0 => 4),
    'g-zero-pass'     => lie($MAX, 10 => 0),
    # T
    't-negative'      => lie(5, 11 => -1),
    't-string'        => lie(5, 11 => \'10'),
    't-nil'           => lie(5, 11 => undef),
    # the give-back's keys and fields
    'key-integer'     => lie(5, 12 => 7),
    'key-nil'         => lie(5, 13 => undef),
    'key-array'       => lie(5, 15 => ['tenant:{key-array}:usage']),
    'field-integer'   => lie(5, 16 => 1),
    # the long reply's own elements
    'verdict-string'  => lie(5, 0 => \'0'),
    'verdict-9'       => lie(5, 0 => 9),
    'verdict-nil'     => lie(5, 0 => undef),
    'status-integer'  => lie(5, 1 => 1),
    'plan-nil'        => lie(5, 2 => undef),
    'nested-number'   => lie(5, 3 => [[1, [2]]]),
    'remaining-int64' => lie(5, 3 => $INT64_MAX),
    'reset-int64'     => lie(5, 9 => $INT64_MAX),
    'used-int64-min'  => lie(5, 6 => $INT64_MIN),
    'limit-int64-min' => lie(5, 8 => $INT64_MIN),
    # not an array of the script's
    'error'           => sub { { err => 'ERR the liar says no' } },
    'integer'         => sub { 0 },
    'nil'             => sub { undef },
    'string'          => sub { 'OK' },
    'nested-reply'    => sub { [grant(@_, 5)] },
);

# every length of the grant of 5 but the full one
for my $len (0 .. 17) {
    $MALFORMED{"short-$len"} = sub { [@{ grant(@_, 5) }[0 .. $len - 1]] };
}

# what each one's log line says
my %WHY = (error => 'redis request failed');

$DECIDE{$_} = [($MALFORMED{$_}) x 2] for keys %MALFORMED;

# well-formed: a grant of 5 used; a grant of 3 followed by 10000 integers
# (an override list that is no list: ignored); a suspension, short as the
# script sends it
$DECIDE{ok} = [sub { grant(@_, 5) }];
$DECIDE{long} = [sub { [@{ grant(@_, 3) }, (7) x 10000] }];
$DECIDE{suspended} = [(sub { [1, 'suspended', ''] }) x 2];

# a key of 1 MB, given back as it came
my $HUGE = 'x' x (1 << 20);
$DECIDE{'huge-key'} = [lie(3, 12 => "tenant:{huge-key}:rate$HUGE")];

# give-backs answered with an error or garbage
my $UNEXPECTED = qr/unexpected reply to a lease's give-back/;
my $FAILED = qr/redis error: "ERR no".*\n.*a lease's give-back failed/;
my %GIVE_BACK = (
    'gb-error'  => [sub { { err => 'ERR no' } }, $FAILED],
    'gb-nested' => [sub { [[[1]], 'x'] }, $UNEXPECTED],
    'gb-string' => [sub { \'garbage' }, $UNEXPECTED],
    'gb-nil'    => [sub { undef }, $UNEXPECTED],
);
for my $t (keys %GIVE_BACK) {
    $DECIDE{$t} = [sub { grant(@_, 3) }];
    $GIVE{$t} = $GIVE_BACK{$t}[0];
}

# the exact mode's handling of the same lies, for comparison
for my $t ('error', 'short-0', 'short-2', 'verdict-string', 'verdict-9',
           'status-integer', 'nested-reply')
{
    $DECIDE{"x-$t"} = [$MALFORMED{$t}];
}

# the exact mode's short reply (limits as sent) with a quota used no
# script computes: once a signed overflow in the headers (seen by UBSan,
# make test-asan)
$DECIDE{'x-used-min'} = [sub { [0, 'active', $_[1][4], 1, 1, 0, $INT64_MIN] }];

liar_start();

# ---- nginx

sub gateway {
    my ($path, $lease, $failure) = @_;
    return <<"_EOC_";
        location $path {
            tenant_jwt on;
            tenant_jwt_key_file $TenantNginx::DATA/hmac.secret;
            tenant_limit on;
            tenant_limit_lease $lease;
            tenant_redis_failure $failure;
            proxy_pass http://127.0.0.1:\$server_port/seen\$uri;
        }
_EOC_
}

my $n = nginx_start('liar', redis => <<"_EOC_",
    tenant_redis 127.0.0.1:$LPORT timeout=2s;
    log_format seen '\$http_x_tenant_id \$uri';
_EOC_
    server => gateway('/deny', "on max=$MAX ttl=30s", 'deny')
            . gateway('/allow', "on max=$MAX ttl=30s", 'allow')
            . gateway('/short', "on max=$MAX ttl=300ms", 'deny')
            . gateway('/exact', 'off', 'deny')
            . <<"_EOC_");
        location /seen/ {
            access_log $SEEN seen;
            return 200 "upstream ok\\n";
        }
_EOC_

my $UNAVAILABLE = qq{{"error":"limiter_unavailable","message":"limits cannot be checked right now"}\n};
my $SUSPENDED = qq{{"error":"tenant_suspended","message":"the organization is suspended"}\n};

sub lines { grep { /\S/ } split /\n/, TenantNginx::slurp($_[0]) }

# what the liar was asked for $tenant: ARGV[18] of each decision
sub decisions {
    my ($tenant) = @_;
    return join ' ', map { (split)[2] }
                     grep { /^D \Q$tenant\E / } lines($LOG);
}

sub give_backs { grep { /^G \Q$_[0]\E / } lines($LOG) }

# the paths the upstream saw for $tenant
sub seen {
    my ($tenant) = @_;
    return join ' ', map { (split)[1] } grep { /^\Q$tenant\E / } lines($SEEN);
}

# a second no failure was logged in yet
sub fresh_second { sleep(int(time) + 1.02 - time) }

sub req {
    my ($tenant, $path) = @_;
    return api($n, token($tenant), path => $path);
}

# a token's first request in each location is decided exactly, the next
# ones ask for leases: the scenarios start after one request in each
sub warm {
    my ($tenant, @paths) = @_;
    my @s = map { req($tenant, $_)->{status} } @paths;
    is("@s", join(' ', (200) x @paths), "$tenant: a first request in "
       . join(', ', @paths) . ', decided exactly');
}

# waits up to 5 s for $cond
sub wait_for {
    my ($cond) = @_;
    for (1 .. 100) { return 1 if $cond->(); sleep 0.05 }
    return $cond->();
}

# ---- a malformed lease reply: the failure policy, logged, nothing kept

for my $t (sort keys %MALFORMED) {
    my $why = $WHY{$t} || 'unexpected script reply';

    warm($t, '/deny', '/allow');
    fresh_second();
    my $pos = length error_log($n);

    my $r = req($t, '/deny');
    is("$r->{status} $r->{body}", "503 $UNAVAILABLE",
       "$t: deny answers 503 limiter_unavailable");
    like(error_log_since($n, $pos),
         qr/\[error\] .*tenant: \Q$why\E.*request: "GET \/deny /,
         "$t: logged \"$why\"");

    $r = req($t, '/allow');
    is("$r->{status} $r->{body}", "200 upstream ok\n", "$t: allow admits");

    # decided by Redis again, each asking for a lease: nothing was kept,
    # no slot left pending
    is(join(' ', map { req($t, '/deny')->{status} } 1 .. 2), '200 200',
       "$t: the next requests are admitted");
    is(decisions($t), "$MAX $MAX $MAX $MAX",
       "$t: each decided by Redis, asking for a lease of $MAX");
    is(seen($t), '/seen/deny /seen/allow /seen/allow /seen/deny /seen/deny',
       "$t: the upstream never saw the refused request");
}

# ---- the same lies in the exact mode: the same answer

for my $t (sort grep { /^x-/ && $_ ne 'x-used-min' } keys %DECIDE) {
    my $why = $WHY{substr $t, 2} || 'unexpected script reply';

    fresh_second();
    my $pos = length error_log($n);

    my $r = req($t, '/exact');
    is("$r->{status} $r->{body}", "503 $UNAVAILABLE",
       "$t: exact mode, deny answers 503 limiter_unavailable");
    like(error_log_since($n, $pos), qr/\[error\] .*tenant: \Q$why\E/,
         "$t: exact mode, logged \"$why\"");
    is(req($t, '/exact')->{status}, 200, "$t: exact mode, then admitted");
    is(decisions($t), '- -', "$t: exact mode, two decisions without ARGV[18]");
}

{
    my $r = api($n, token('x-used-min'), path => '/exact');
    is($r->{status}, 200, 'x-used-min: exact mode, admitted');
    is(decisions('x-used-min'), '-', 'x-used-min: exact mode, one decision');
}

# ---- well-formed replies of the liar are used

{
    warm($_, '/deny') for qw(ok long);
    warm('suspended', '/deny', '/allow');

    my @s = map { req('ok', '/deny')->{status} } 1 .. 6;
    is("@s", '200 200 200 200 200 200', 'ok: six admitted');
    is(decisions('ok'), "$MAX $MAX",
       'ok: the grant of 5 admitted five requests, the sixth asked again');
    is(seen('ok'), join(' ', ('/seen/deny') x 7),
       'ok: the upstream saw six, and the first request');

    @s = map { req('long', '/deny')->{status} } 1 .. 4;
    is("@s", '200 200 200 200', 'long: four admitted');
    is(decisions('long'), "$MAX $MAX",
       'long: a grant of 3 with 10000 elements after it is kept');

    @s = map { req('suspended', $_) } '/deny', '/allow';
    is(join('', map { "$_->{status} $_->{body}" } @s),
       "403 ${SUSPENDED}403 $SUSPENDED",
       'suspended: the short refusal of a lease request refuses');
    is(req('suspended', '/deny')->{status}, 200, 'suspended: then admitted');
    is(decisions('suspended'), "$MAX $MAX $MAX",
       'suspended: each decided by Redis');
    is(seen('suspended'), '/seen/deny /seen/allow /seen/deny',
       'suspended: never seen refused');
}

# ---- a key of 1 MB: kept and given back as it came

{
    warm('huge-key', '/short');
    is(req('huge-key', '/short')->{status}, 200, 'huge key: admitted');
    ok(wait_for(sub { give_backs('huge-key') }), 'huge key: given back');
    my $want = length("tenant:{huge-key}:rate$HUGE");
    is(join(',', give_backs('huge-key')), "G huge-key 2 $want",
       'huge key: 2 units given back on the 1 MB key');
    is(req('huge-key', '/short')->{status}, 200, 'huge key: then admitted');
    is(decisions('huge-key'), "$MAX $MAX", 'huge key: asked Redis again');
}

# ---- a give-back answered with an error or garbage: logged

for my $t (sort keys %GIVE_BACK) {
    warm($t, '/short');
    fresh_second();
    my $pos = length error_log($n);

    is(req($t, '/short')->{status}, 200, "$t: a grant of 3, one used");
    ok(wait_for(sub { give_backs($t) }), "$t: the two others given back");
    ok(wait_for(sub { error_log_since($n, $pos) =~ $GIVE_BACK{$t}[1] }),
       "$t: the reply logged") or diag(error_log_since($n, $pos));
    is(req($t, '/short')->{status}, 200, "$t: then admitted");
    is(decisions($t), "$MAX $MAX", "$t: asked Redis again");
}

my $log = error_log($n);
unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'no alert, crit or emerg');
unlike($log, qr/exited on signal/, 'no worker died');
unlike($log, qr/runtime error|Sanitizer/, 'no sanitizer report');

done_testing();
