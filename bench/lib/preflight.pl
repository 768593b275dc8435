#!/usr/bin/perl
# Pre-flight for bench/run, before any load: each gateway answers 200 with
# its token(s) and passes the request on; a tenant_jwt gateway also sets
# the X-Tenant-* headers from the token, drops spoofed ones, and refuses
# a request without a token (401).  Needs the upstream's /headers echo.
#
#   preflight.pl NAME PORT jwt|plain TOKENS_FILE [NAME PORT MODE FILE ...]

use strict;
use warnings;
use HTTP::Tiny;

my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
my $bad = 0;

sub fail { print STDERR "pre-flight: $_[0]\n"; $bad++ }

while (@ARGV) {
    my ($name, $port, $mode, $file) = splice @ARGV, 0, 4;
    die "preflight.pl: bad arguments\n" unless defined $file;
    open my $fh, '<', $file or die "$file: $!\n";
    chomp(my @tokens = grep { /\S/ } <$fh>);
    close $fh;

    my $url = "http://127.0.0.1:$port";

    for my $t (@tokens) {
        my $r = $http->get("$url/headers", { headers => {
            'Authorization' => "Bearer $t",
            'X-Tenant-ID'   => 'evil',
            'X-Tenant-Role' => 'owner',
        } });
        if ($r->{status} != 200) {
            fail("$name: token got $r->{status} $r->{reason}: $r->{content}");
            next;
        }
        next if $mode eq 'plain';
        my $b = $r->{content};
        fail("$name: upstream saw no tenant headers: $b")
            unless $b =~ /^id=acme user=user-\d+ role=admin plan=pro permissions=\S+/;
        fail("$name: a spoofed header reached the upstream: $b")
            if $b =~ /evil|owner/;
    }

    my $r = $http->get("$url/", { headers => {
        'Authorization' => "Bearer $tokens[0]" } });
    fail("$name: GET / got $r->{status}, not 200 \"ok\"")
        unless $r->{status} == 200 && $r->{content} eq "ok\n";

    if ($mode eq 'jwt') {
        $r = $http->get("$url/");
        fail("$name: no token got $r->{status}, not 401")
            unless $r->{status} == 401;
    }
}

exit($bad ? 1 : 0);
