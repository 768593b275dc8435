package TenantTest;

# Token minting for the test suite: real signatures from Crypt::JWT
# (Debian's libcrypt-jwt-perl: PSS with a salt as long as the hash, EdDSA
# with Ed25519) with the fixture keys in t/data.
# Works the same under the real Test::Nginx and the compat runner.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 qw(encode_base64url);
use JSON::PP ();

use Exporter 'import';
our @EXPORT = qw(jwt idp_jwt bearer raw_jwt b64u json_text key_path hmac_secret
                 auth_header now);

our $DATA = abs_path(dirname(__FILE__) . '/../data');

$ENV{TEST_NGINX_DATA_DIR} ||= $DATA;

my %default_key = (
    HS => 'hmac.secret',
    RS => 'rsa.key',
    ES256 => 'ec256.key',
    ES384 => 'ec384.key',
    ES512 => 'ec521.key',
    PS => 'rsa.key',
    EdDSA => 'ed25519.key',
);

my $json = JSON::PP->new->canonical(1);

sub now { time() }

sub key_path { "$DATA/$_[0]" }

sub hmac_secret {
    my ($file) = @_;
    open my $fh, '<', key_path($file || 'hmac.secret') or die $!;
    local $/;
    my $s = <$fh>;
    $s =~ s/\n\z//;
    return $s;
}

# jwt(claims => {...}, alg => 'RS256', key => 'rsa.key', kid => 'x',
#     header => {...}, no_exp => 1)
sub jwt {
    my %o = @_;
    my $alg = $o{alg} || 'HS256';
    my $claims = {
        sub    => 'user-1',
        org_id => 'acme',
        role   => 'admin',
        plan   => 'pro',
        exp    => now() + 3600,
        %{ $o{claims} || {} },
    };
    delete $claims->{exp} if $o{no_exp};
    for my $k (keys %$claims) {
        delete $claims->{$k} unless defined $claims->{$k};
    }

    my $keyfile = $o{key} || $default_key{$alg} || $default_key{substr $alg, 0, 2};
    my $key;
    if ($alg =~ /^HS/) {
        $key = hmac_secret($keyfile);
    } else {
        $key = \ do { local $/; open my $fh, '<', key_path($keyfile) or die $!; <$fh> };
    }

    my %extra = %{ $o{header} || {} };
    $extra{kid} = $o{kid} if defined $o{kid};

    return encode_jwt(payload => $json->encode($claims), alg => $alg,
                      key => $key, extra_headers => \%extra);
}

# idp_jwt(header => {...}, claims => {...}, alg => 'RS256', key => 'rsa.key'):
# a token with exactly these claims (undef ones left out), none added, and
# these header members besides "alg": as a given identity provider issues
# them
sub idp_jwt {
    my %o = @_;
    my $alg = $o{alg} || 'RS256';
    my $key = \ do { local $/; open my $fh, '<', key_path($o{key} || 'rsa.key')
                                 or die $!; <$fh> };
    my %claims = %{ $o{claims} };
    defined $claims{$_} or delete $claims{$_} for keys %claims;
    return encode_jwt(payload => $json->encode(\%claims), alg => $alg,
                      key => $key, extra_headers => $o{header} || {});
}

sub b64u { encode_base64url($_[0]) }

sub json_text { $json->encode($_[0]) }

# raw_jwt($header_json_or_hash, $payload_json_or_hash, $signature_b64)
sub raw_jwt {
    my ($h, $p, $s) = @_;
    $h = json_text($h) if ref $h;
    $p = json_text($p) if ref $p;
    return join '.', b64u($h), b64u($p), defined $s ? $s : '';
}

sub bearer { "Authorization: Bearer " . jwt(@_) }

sub auth_header { "Authorization: Bearer $_[0]" }

1;
