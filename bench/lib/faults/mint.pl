#!/usr/bin/perl
# Tokens for bench/faults: one RS256 token per tenant, signed with the test
# key, valid for an hour.
#
#   mint.pl KEYFILE OUTDIR TENANT:PLAN...
#
# writes OUTDIR/TENANT.token for each, with the claims of
# t/lib/TenantTest.pm (sub, org_id, role, plan, iat, exp).

use strict;
use warnings;

use Crypt::JWT qw(encode_jwt);
use JSON::PP ();

my ($keyfile, $out, @specs) = @ARGV;
die "usage: mint.pl KEYFILE OUTDIR TENANT:PLAN...\n" unless @specs;

open my $fh, '<', $keyfile or die "mint.pl: $keyfile: $!\n";
my $key = do { local $/; <$fh> };
close $fh;

my $json = JSON::PP->new->canonical(1);

for my $spec (@specs) {
    my ($tenant, $plan) = split /:/, $spec, 2;
    die "mint.pl: bad TENANT:PLAN $spec\n" unless defined $plan;
    my $claims = {
        sub    => "user-$tenant",
        org_id => $tenant,
        role   => 'admin',
        plan   => $plan,
        iat    => time() - 5,
        exp    => time() + 3600,
    };
    my $tok = encode_jwt(payload => $json->encode($claims), alg => 'RS256',
                         key => \$key);
    open my $o, '>', "$out/$tenant.token" or die "mint.pl: $out/$tenant.token: $!\n";
    print $o "$tok\n";
    close $o or die "mint.pl: $out/$tenant.token: $!\n";
}
