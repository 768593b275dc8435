#!/usr/bin/perl
# Token minting for bench/run, with the test fixtures in t/data.
#
#   mint.pl one ALG [ORG_ID]          one token (HS256, RS256 or ES256) on
#                                     stdout, valid for a day: the token a
#                                     real client keeps sending; its
#                                     org_id is acme unless ORG_ID is given
#   mint.pl distinct N FILE [WORKERS] N distinct RS256 tokens (one a line)
#                                     into FILE, valid for 30 days
#   mint.pl tenants N FILE [WORKERS]  the same, but token i also belongs
#                                     to its own tenant, org_id tenant-i
#
# The claims are those of t/lib/TenantTest.pm (sub, org_id, role, plan,
# exp) plus a permissions list, so the gateway injects all five headers.
#
# RS256 signing is the slow part of "distinct" (a 2048-bit private-key
# operation per token).  Crypt::PK::RSA (CryptX, libtommath) does ~250/s a
# core here; when python3 with the "cryptography" package (OpenSSL) is
# there it does ~750/s a core, so it is used for the signatures when
# present (MINTER=perl forces Perl).  Either way the work is split over
# WORKERS processes (default: nproc).  The header and payloads are built
# here in both cases, so the tokens are the same shape.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Crypt::JWT qw(encode_jwt decode_jwt);
use Crypt::PK::RSA;
use MIME::Base64 qw(encode_base64url);
use JSON::PP ();
use Time::HiRes ();

my $DATA = $ENV{BENCH_DATA_DIR} || abs_path(dirname(__FILE__) . '/../../t/data');
my $LIB  = abs_path(dirname(__FILE__));
my $json = JSON::PP->new->canonical(1);

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "mint.pl: $path: $!\n";
    local $/;
    return scalar <$fh>;
}

sub claims {
    my (%over) = @_;
    return {
        sub         => 'user-1',
        org_id      => 'acme',
        role        => 'admin',
        plan        => 'pro',
        permissions => [qw(read write billing)],
        iat         => time(),
        exp         => time() + 86400,
        %over,
    };
}

my $cmd = shift // '';

if ($cmd eq 'one') {
    my $alg = shift // die "usage: mint.pl one HS256|RS256|ES256 [ORG_ID]\n";
    my $org = shift;
    my $key;
    if ($alg eq 'HS256') {
        $key = slurp("$DATA/hmac.secret");
        $key =~ s/\n\z//;
    } elsif ($alg eq 'RS256') {
        $key = \ slurp("$DATA/rsa.key");
    } elsif ($alg eq 'ES256') {
        $key = \ slurp("$DATA/ec256.key");
    } else {
        die "mint.pl: unsupported alg $alg\n";
    }
    print encode_jwt(payload => $json->encode(claims(defined $org ? (org_id => $org) : ())),
                     alg => $alg,
                     key => $key), "\n";
    exit 0;
}

if ($cmd ne 'distinct' && $cmd ne 'tenants') {
    die "usage: mint.pl one ALG | mint.pl distinct|tenants N FILE [WORKERS]\n";
}

my ($n, $file, $workers) = @ARGV;
die "usage: mint.pl $cmd N FILE [WORKERS]\n"
    unless defined $file && defined $n && $n =~ /^\d+$/ && $n > 0;

$workers ||= do { my $c = `nproc 2>/dev/null`; chomp $c; $c =~ /^\d+$/ ? $c : 1 };
$workers = $n if $workers > $n;

my $keyfile = "$DATA/rsa.key";
my $minter = $ENV{MINTER} || '';
if ($minter eq '') {
    $minter = system("python3 -c 'import cryptography' >/dev/null 2>&1") == 0
              ? 'python' : 'perl';
}
die "mint.pl: MINTER must be perl or python\n" if $minter !~ /^(perl|python)$/;

my $exp = time() + 30 * 86400;
my $header = encode_base64url($json->encode({ alg => 'RS256', typ => 'JWT' }));

# the signing inputs, in order: header.payload, the jti and sub vary (and
# for "tenants" the org_id: one tenant per token)
my @inputs;
for my $i (1 .. $n) {
    my $c = claims(sub => "user-$i", jti => "bench-$i", exp => $exp,
                   $cmd eq 'tenants' ? (org_id => "tenant-$i") : ());
    push @inputs, $header . '.' . encode_base64url($json->encode($c));
}

my $t0 = Time::HiRes::time();
my $per = int(($n + $workers - 1) / $workers);
my @parts;
my @pids;

for my $w (0 .. $workers - 1) {
    my $lo = $w * $per;
    last if $lo >= $n;
    my $hi = $lo + $per - 1;
    $hi = $n - 1 if $hi > $n - 1;
    my $part = "$file.part$w";
    push @parts, $part;

    my $pid = fork() // die "mint.pl: fork: $!\n";
    if ($pid == 0) {
        if ($minter eq 'python') {
            open my $in, '>', "$part.in" or die "$part.in: $!\n";
            print $in "$_\n" for @inputs[$lo .. $hi];
            close $in or die "$part.in: $!\n";
            open STDIN, '<', "$part.in" or die "$part.in: $!\n";
            open STDOUT, '>', $part or die "$part: $!\n";
            exec 'python3', "$LIB/sign-rs256.py", $keyfile
                or die "mint.pl: python3: $!\n";
        }
        my $pk = Crypt::PK::RSA->new($keyfile);
        open my $out, '>', $part or die "$part: $!\n";
        for my $s (@inputs[$lo .. $hi]) {
            print $out $s, '.',
                encode_base64url($pk->sign_message($s, 'SHA256', 'v1.5')), "\n";
        }
        close $out or die "$part: $!\n";
        exit 0;
    }
    push @pids, $pid;
}

my $failed = 0;
for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $? != 0;
}
die "mint.pl: $failed signing worker(s) failed\n" if $failed;

open my $out, '>', "$file.tmp" or die "$file.tmp: $!\n";
my $count = 0;
for my $part (@parts) {
    open my $in, '<', $part or die "$part: $!\n";
    while (my $l = <$in>) { print $out $l; $count++; }
    close $in;
    unlink $part, "$part.in";
}
close $out or die "$file.tmp: $!\n";
die "mint.pl: minted $count tokens, wanted $n\n" if $count != $n;

# one check that the signatures are right before the file is trusted
open my $chk, '<', "$file.tmp" or die "$file.tmp: $!\n";
my $first = <$chk>;
close $chk;
chomp $first;
my $pub = slurp("$DATA/rsa.pub");
decode_jwt(token => $first, key => \$pub, accepted_alg => 'RS256');

rename "$file.tmp", $file or die "mint.pl: rename: $!\n";

my $dt = Time::HiRes::time() - $t0;
my $info = sprintf "minted %d RS256 tokens%s in %.1f s (%.0f/s, %s, %d workers)",
    $n, $cmd eq 'tenants' ? ' (one tenant each)' : '', $dt, $n / ($dt || 1e-9), $minter, scalar @parts;

open my $meta, '>', "$file.meta" or die "$file.meta: $!\n";
print $meta "exp=$exp\ncount=$n\nminter=$minter\ninfo=$info\n";
close $meta;

print STDERR "$info\n";
