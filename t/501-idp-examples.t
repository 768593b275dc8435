# The identity-provider examples (conf.d/auth0.conf, cognito.conf,
# keycloak.conf, okta.conf, entra-id.conf) run here as they are shipped,
# against tokens shaped as each IdP issues them: its claim names, its
# nesting, its header, signed with a key of the JWK Set it publishes.
#
# One local IdP (t/lib/TenantIdp.pm, HTTPS with a CA of its own) plays all
# five: the IdP's origin https://HOST becomes https://localhost:PORT/HOST
# in the example, and so in the tokens' "iss", and its JWK Set (and
# discovery document) is published under that path.  The other
# placeholders are replaced as in t/060: the public CA bundle by the IdP's
# CA, "listen 8080" by a port of the test's, the upstream 127.0.0.1:8081
# by an echo server that answers with the request headers it received.
#
#   client -> the example's server (with the module) -> echo server
#                     |
#                     +--> local IdP: JWK Set, discovery

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use TenantTest;
use TenantIdp;

my $BASE = TenantIdp::base();    # a block of free ports
my $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
my $ECHO = $BASE + 42;    # the upstream, in the gateway's nginx
my $GW = $BASE + 43;      # the example's "listen 8080"

my $idp = TenantIdp->new(port => $BASE + 40);

# the local URL that stands for https://HOST
sub origin { $idp->url("/$_[0]") }

# example($file, $host, $edit): the example as shipped, its placeholders
# replaced; $edit, if given, changes it further (in $_) for a variant
sub example {
    my ($file, $host, $edit) = @_;

    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $local = origin($host);
    $conf =~ s{https://\Q$host\E(?=[/\s;])}{$local}g
        or die "$file: no https://$host\n";
    $conf =~ s{/etc/ssl/certs/ca-certificates\.crt}{${\ $idp->ca }}g
        or die "$file: no public CA bundle\n";
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$ECHO}g
        or die "$file: no upstream 127.0.0.1:8081\n";
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g
        or die "$file: no \"listen 8080;\"\n";
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;
    if ($edit) { local $_ = $conf; $edit->(); $conf = $_ }

    return $conf;
}

sub gateway {
    my ($file, $host, $edit) = @_;
    my $gw = TenantIdp::Gateway->new(
        port => $ECHO,
        http => example($file, $host, $edit),
        server => 'location / { echo $echo_client_request_headers; }');
    die "$file does not start:\n" . $gw->stderr unless $gw->started;
    TenantIdp::wait_port($GW);
    return $gw;
}

# ask($path, $token, %headers) -> (status, { header => value } the
# upstream received, or the error body)
sub ask {
    my ($path, $token, %h) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get(
        "http://127.0.0.1:$GW$path",
        { headers => { Authorization => "Bearer $token", %h } });
    return ($r->{status}, $r->{content}) if $r->{status} != 200;
    my %got = $r->{content} =~ /^([\w-]+): ([^\r\n]*)\r?$/mg;
    return (200, \%got);
}

# admitted($path, $token, { 'X-Tenant-ID' => ..., ... }, $title): the
# upstream received exactly these X-Tenant-* headers
sub admitted {
    my ($path, $token, $want, $title) = @_;
    my ($status, $got) = ask($path, $token, 'X-Tenant-ID' => 'evil',
                             'X-Tenant-Role' => 'owner');
    is $status, 200, "$title: admitted" or return diag $got;
    my %tenant = map { $_ => $got->{$_} } grep { /^X-Tenant-/i } keys %$got;
    is_deeply \%tenant, $want, "$title: the upstream's X-Tenant-* headers";
}

# refused($gw, $path, $token, $why, $title): refused as $why{$why} says,
# with that status and error, for that reason (the gateway logs it)
sub refused {
    my ($gw, $path, $token, $why, $title) = @_;
    my ($status, $error, $log) = @{ $main::why{$why} };
    my $before = () = $gw->error_log =~ /$log/g;
    my ($s, $body) = ask($path, $token);
    is $s, $status, "$title: $status";
    like $body, qr/"error":"$error"/, "$title: $error";
    my $after = () = $gw->error_log =~ /$log/g;
    is $after, $before + 1, "$title: $why";
}

my $now = time;

# why the gateway refuses: status, error, what it logs
our %why = (
    iss => [401, 'invalid_token', qr/token "iss" is not accepted/],
    aud => [401, 'invalid_token', qr/token "aud" is not accepted/],
    client_id => [401, 'invalid_token',
                  qr/token has no required claim "client_id"/],
    cid => [401, 'invalid_token', qr/token has no required claim "cid"/],
    tenant => [403, 'missing_tenant', qr/token has no tenant claim/],
    role => [403, 'insufficient_role', qr/role is not one of those required/],
    min_role => [403, 'insufficient_role', qr/role is below the minimum role/],
    permission => [403, 'insufficient_permission',
                   qr/a required permission is missing/],
    perm_list => [403, 'invalid_claims',
                  qr/permissions claim is not a list of safe names/],
);


subtest 'Auth0: namespaced org and roles, permissions, an array aud, ' .
        'the issuer with its "/", by JWK Set URL and by discovery' => sub {
    my $host = 'acme.eu.auth0.com';
    my $iss = origin($host) . '/';
    $idp->publish("/$host/.well-known/jwks.json", $idp->encode_json({ keys => [
        $idp->jwk('rsa2.key', kty => 'RSA', use => 'sig', alg => 'RS256',
                  kid => 'Qz1old', x5t => 'b2xk', x5c => ['MIIold']),
        $idp->jwk('rsa.key', kty => 'RSA', use => 'sig', alg => 'RS256',
                  kid => 'Qz1new', x5t => 'bmV3', x5c => ['MIInew']) ] }));
    my $gw = gateway('auth0.conf', $host);

    my %claims = (
        iss => $iss,
        sub => 'auth0|64f1c2a9e4b0d1',
        aud => ['https://api.acme.example.com', "${iss}userinfo"],
        iat => $now, exp => $now + 86400,
        azp => 'hD8kTq0aB1cD2eF3gH4iJ5kL',
        scope => 'openid profile orders:read',
        permissions => ['orders:read', 'orders:write'],
        'https://acme.example.com/org_id' => 'acme',
        'https://acme.example.com/roles' => ['editor'],
    );
    my $tok = sub {
        idp_jwt(header => { typ => 'JWT', kid => 'Qz1new' },
                claims => { %claims, @_ });
    };

    admitted('/api/orders', $tok->(), {
        'X-Tenant-ID' => 'acme', 'X-Tenant-User' => 'auth0|64f1c2a9e4b0d1',
        'X-Tenant-Role' => 'editor',
        'X-Tenant-Permissions' => 'orders:read,orders:write' },
        'an access token for the API');
    admitted('/api/orders', $tok->(aud => 'https://api.acme.example.com',
                                   'https://acme.example.com/roles' => [],
                                   permissions => []),
             { 'X-Tenant-ID' => 'acme',
               'X-Tenant-User' => 'auth0|64f1c2a9e4b0d1' },
             'aud a string, no roles, no permissions');
    refused($gw, '/api/orders', $tok->(iss => origin($host)), 'iss',
            'the issuer without its trailing "/"');
    refused($gw, '/api/orders', $tok->(aud => "${iss}userinfo"), 'aud',
            'a token for /userinfo only');
    refused($gw, '/api/orders',
            $tok->('https://acme.example.com/org_id' => undef), 'tenant',
            'no org claim (the Action did not run)');
    refused($gw, '/api/admin/users', $tok->(), 'min_role',
            'an editor on an admin path');
    my $admin = $tok->('https://acme.example.com/roles' => ['viewer', 'admin']);
    is((ask('/api/admin/users', $admin))[0], 200, 'an admin on an admin path');
    unlike $gw->error_log, qr/\[(?:error|crit|alert|emerg)\]/, 'no error';

    # the variant the recipe gives: discovery of the issuer, "/" and all
    undef $gw;
    $idp->publish("/$host/.well-known/openid-configuration",
                  $idp->discovery($iss, "${iss}.well-known/jwks.json"));
    $gw = gateway('auth0.conf', $host, sub {
        s{tenant_jwt_jwks_url\s+\S+}{tenant_jwt_discovery $iss} or die;
        s{^\s*tenant_jwt_issuer\s.*\n}{}m or die;
    });
    admitted('/api/orders', $tok->(), {
        'X-Tenant-ID' => 'acme', 'X-Tenant-User' => 'auth0|64f1c2a9e4b0d1',
        'X-Tenant-Role' => 'editor',
        'X-Tenant-Permissions' => 'orders:read,orders:write' },
        'tenant_jwt_discovery https://TENANT/');
    refused($gw, '/api/orders', $tok->(iss => origin($host)), 'iss',
            'discovery: the issuer without its trailing "/"');
    is $idp->fetches("/$host/.well-known/openid-configuration"), 1,
       'discovery: the document at ISSUER.well-known/openid-configuration';
};


subtest 'Cognito: access tokens (client_id, no aud), cognito:groups, ' .
        'custom:org_id, a resource server scope; ID tokens refused' => sub {
    my $host = 'cognito-idp.eu-west-1.amazonaws.com';
    my $pool = 'eu-west-1_Ab12CdEfG';
    my $iss = origin($host) . "/$pool";
    $idp->publish("/$host/$pool/.well-known/jwks.json",
        $idp->encode_json({ keys => [
            $idp->jwk('rsa.key', alg => 'RS256', kid => 'p9VQid',
                      use => 'sig'),
            $idp->jwk('rsa2.key', alg => 'RS256', kid => 'p9VQacc',
                      use => 'sig') ] }));
    my $gw = gateway('cognito.conf', $host);

    my $user = '7c4e2b1a-5f3d-4e8c-9a1b-2d3c4e5f6a7b';
    my %access = (
        sub => $user, iss => $iss, client_id => '5mlb3c0example',
        token_use => 'access', 'cognito:groups' => ['viewer', 'editor'],
        scope => 'https://api.acme.example.com/orders.read',
        'custom:org_id' => 'acme', username => 'alice', version => 2,
        origin_jti => 'a1b2c3d4-0000-4000-8000-000000000001',
        event_id => 'e1f2a3b4-0000-4000-8000-000000000002',
        jti => 'f1e2d3c4-0000-4000-8000-000000000003',
        auth_time => $now, iat => $now, exp => $now + 3600,
    );
    my $access = sub {
        idp_jwt(header => { kid => 'p9VQacc' }, key => 'rsa2.key',
                claims => { %access, @_ });
    };
    my $id_token = idp_jwt(header => { kid => 'p9VQid' }, claims => {
        sub => $user, iss => $iss, aud => '5mlb3c0example',
        token_use => 'id', 'cognito:groups' => ['admin'],
        'cognito:username' => 'alice', 'custom:org_id' => 'acme',
        email => 'alice@acme.example', email_verified => JSON::PP::true(),
        origin_jti => 'x', event_id => 'y', jti => 'z',
        auth_time => $now, iat => $now, exp => $now + 3600 });

    admitted('/api/orders', $access->(), {
        'X-Tenant-ID' => 'acme', 'X-Tenant-User' => $user,
        'X-Tenant-Role' => 'editor',
        'X-Tenant-Permissions' => 'https://api.acme.example.com/orders.read' },
        'an access token');
    refused($gw, '/api/orders', $id_token, 'client_id',
            'an ID token (aud, no client_id)');
    refused($gw, '/api/orders',
            $access->(scope => 'aws.cognito.signin.user.admin'),
            'permission',
            'an access token without the API\'s scope');
    # X-Tenant-Permissions holds at most 256 bytes: seven scopes of a
    # resource server named by a URL are more
    my @seven = map { "https://api.acme.example.com/orders.$_" }
                qw(read write delete export import approve publish);
    refused($gw, '/api/orders', $access->(scope => "@seven"), 'perm_list',
            'seven resource server scopes, 299 bytes joined');
    refused($gw, '/api/orders',
            $access->(iss => origin($host) . '/eu-west-1_Other'),
            'iss', 'another pool');
    refused($gw, '/api/admin/users', $access->(), 'role',
            'an editor on an admin path');
    is((ask('/api/admin/users', $access->('cognito:groups' => ['admin'])))[0],
       200, 'an admin on an admin path');
    unlike $gw->error_log, qr/\[(?:error|crit|alert|emerg)\]/, 'no error';
};


subtest 'Keycloak: client roles in resource_access, realm roles aside, ' .
        'the Audience mapper, an "enc" key skipped' => sub {
    my $host = 'sso.acme.example.com';
    my $iss = origin($host) . '/realms/acme';
    $idp->publish("/$host/realms/acme/protocol/openid-connect/certs",
        $idp->encode_json({ keys => [
            $idp->jwk('rsa2.key', kid => 'enc-Zm9v', use => 'enc',
                      alg => 'RSA-OAEP', x5c => ['MIIenc'], x5t => 'ZW5j',
                      'x5t#S256' => 'ZW5jMjU2'),
            $idp->jwk('rsa.key', kid => 'x2FhSig', use => 'sig',
                      alg => 'RS256', x5c => ['MIIsig'], x5t => 'c2ln',
                      'x5t#S256' => 'c2lnMjU2') ] }));
    my $gw = gateway('keycloak.conf', $host);

    my $user = 'f7d3c1e0-8a2b-4c5d-9e6f-0a1b2c3d4e5f';
    my %claims = (
        exp => $now + 300, iat => $now, auth_time => $now,
        jti => 'onrtac:3c0f8e2a', iss => $iss,
        aud => ['orders-api', 'account'], sub => $user, typ => 'Bearer',
        azp => 'orders-web', sid => '0d6f1a2b', acr => '1',
        'allowed-origins' => ['https://app.acme.example.com'],
        realm_access => { roles => ['default-roles-acme', 'offline_access',
                                    'uma_authorization'] },
        resource_access => {
            'orders-api' => { roles => ['viewer', 'editor'] },
            account => { roles => ['manage-account', 'view-profile'] } },
        scope => 'openid profile email', email_verified => JSON::PP::true(),
        org_id => 'acme', preferred_username => 'alice',
        email => 'alice@acme.example',
    );
    my $tok = sub {
        idp_jwt(header => { typ => 'JWT', kid => 'x2FhSig' },
                claims => { %claims, @_ });
    };

    admitted('/api/orders', $tok->(), {
        'X-Tenant-ID' => 'acme', 'X-Tenant-User' => $user,
        'X-Tenant-Role' => 'editor', 'X-Tenant-Username' => 'alice',
        'X-Tenant-Permissions' => 'openid,profile,email' },
        'an access token with the client\'s roles');
    refused($gw, '/api/orders', $tok->(aud => 'account'), 'aud',
            'aud "account" only (no Audience mapper)');
    refused($gw, '/api/orders', $tok->(aud => 'orders-web', typ => 'ID'),
            'aud', 'an ID token');
    refused($gw, '/api/orders',
            $tok->(iss => origin($host) . '/auth/realms/acme'),
            'iss', 'the pre-17 "/auth" issuer');
    refused($gw, '/api/admin/users', $tok->(), 'min_role',
            'an editor on an admin path');
    refused($gw, '/api/admin/users',
            $tok->(realm_access => { roles => ['admin'] }), 'min_role',
            'a realm role "admin" is not the client\'s');
    is((ask('/api/admin/users', $tok->(resource_access => {
            'orders-api' => { roles => ['admin'] } })))[0],
       200, 'a client admin on an admin path');
    like $gw->error_log, qr/key "enc-Zm9v" skipped: use "enc"/,
         'the encryption key is skipped';
    unlike $gw->error_log, qr/\[(?:error|crit|alert|emerg)\]/, 'no error';
};


subtest 'Okta: a custom authorization server, groups, scp, cid and uid' => sub {
    my $host = 'acme.okta.com';
    my $iss = origin($host) . '/oauth2/default';
    $idp->publish("/$host/oauth2/default/v1/keys",
        $idp->encode_json({ keys => [
            $idp->jwk('rsa.key', kty => 'RSA', alg => 'RS256',
                      kid => 'Vn6rAbc', use => 'sig') ] }));
    my $gw = gateway('okta.conf', $host);

    my %claims = (
        ver => 1, jti => 'AT.k3Jf8sLq0aB1cD2eF3gH4iJ5',
        iss => $iss, aud => 'api://default',
        iat => $now, exp => $now + 3600,
        cid => '0oa1b2c3d4EXAMPLE', uid => '00u1a2b3c4EXAMPLE',
        scp => ['openid', 'orders:read'], auth_time => $now - 10,
        sub => 'alice@acme.example.com',
        groups => ['Everyone', 'orders-viewer', 'orders-editor'],
        org_id => 'acme',
    );
    my $tok = sub {
        idp_jwt(header => { kid => 'Vn6rAbc' }, claims => { %claims, @_ });
    };

    admitted('/api/orders', $tok->(), {
        'X-Tenant-ID' => 'acme', 'X-Tenant-User' => '00u1a2b3c4EXAMPLE',
        'X-Tenant-Role' => 'orders-editor',
        'X-Tenant-Permissions' => 'openid,orders:read',
        'X-Tenant-Client' => '0oa1b2c3d4EXAMPLE' },
        'an access token');
    refused($gw, '/api/orders',
            idp_jwt(header => { kid => 'Vn6rAbc' }, claims => {
                sub => '00u1a2b3c4EXAMPLE', ver => 1, iss => $iss,
                aud => '0oa1b2c3d4EXAMPLE', iat => $now, exp => $now + 3600,
                jti => 'ID.x', amr => ['pwd'], idp => '00o1', nonce => 'n',
                auth_time => $now, org_id => 'acme' }),
            'cid', 'an ID token');
    refused($gw, '/api/orders', $tok->(iss => origin($host)), 'iss',
            'the org authorization server\'s issuer');
    refused($gw, '/api/admin/users', $tok->(), 'role',
            'an editor on an admin path');
    is((ask('/api/admin/users',
            $tok->(groups => ['Everyone', 'orders-admin'])))[0],
       200, 'an admin on an admin path');
    unlike $gw->error_log, qr/\[(?:error|crit|alert|emerg)\]/, 'no error';
};


subtest 'Entra ID: discovery, the customer tenants\' v2.0 issuers, tid, ' .
        'oid, app roles; v1.0 tokens refused' => sub {
    my $host = 'login.microsoftonline.com';
    my $home = '0b5c2f86-5d2e-4bd6-a6f1-7c9d8e2a4b31';
    my $a = '4a1f9c3e-27b8-4f0d-9d6a-5e3b2c1a0f98';
    my $b = 'c8e2d7a1-93f4-4b6e-8a2d-0f1e5b7c9d43';
    my $other = '11111111-2222-4333-8444-555555555555';
    my $app = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
    my $login = origin($host);
    $idp->publish("/$host/$home/v2.0/.well-known/openid-configuration",
        $idp->encode_json({
            token_endpoint => "$login/$home/oauth2/v2.0/token",
            jwks_uri => "$login/$home/discovery/v2.0/keys",
            response_types_supported => ['code', 'id_token',
                                         'code id_token', 'id_token token'],
            subject_types_supported => ['pairwise'],
            id_token_signing_alg_values_supported => ['RS256'],
            issuer => "$login/$home/v2.0",
            authorization_endpoint => "$login/$home/oauth2/v2.0/authorize",
            tenant_region_scope => 'EU',
            cloud_instance_name => 'microsoftonline.com' }));
    $idp->publish("/$host/$home/discovery/v2.0/keys",
        $idp->encode_json({ keys => [
            $idp->jwk('rsa2.key', kty => 'RSA', use => 'sig', kid => 'old',
                      x5t => 'old', x5c => ['MIIold'],
                      issuer => "$login/$home/v2.0"),
            $idp->jwk('rsa.key', kty => 'RSA', use => 'sig', kid => 'L1KfKF',
                      x5t => 'L1KfKF', x5c => ['MIInew'],
                      issuer => "$login/$home/v2.0") ] }));
    my $gw = gateway('entra-id.conf', $host);

    my $oid = '1d9e6b0c-3a4f-4b2e-8c7d-6e5f4a3b2c1d';
    my $tok = sub {
        my ($tid, %more) = @_;
        idp_jwt(header => { typ => 'JWT', kid => 'L1KfKF', x5t => 'L1KfKF' },
                claims => {
            aud => $app, iss => "$login/$tid/v2.0",
            iat => $now, nbf => $now, exp => $now + 3900,
            aio => 'AXQAi/8TAAAA',
            azp => '0f3c9a1b-aaaa-4bbb-8ccc-dddddddddddd',
            azpacr => '0', name => 'Alice', oid => $oid,
            preferred_username => 'alice@acme.example',
            rh => '0.AXQA', roles => ['Orders.Reader', 'Orders.Editor'],
            scp => 'Orders.Read', sub => 'aP2E9xKq7LmN3oPqRsTuVwXyZ',
            tid => $tid, uti => 'AbCdEf', ver => '2.0', %more });
    };

    admitted('/api/orders', $tok->($a), {
        'X-Tenant-ID' => $a, 'X-Tenant-User' => $oid,
        'X-Tenant-Role' => 'Orders.Editor',
        'X-Tenant-Permissions' => 'Orders.Read' },
        'a token of customer tenant A');
    # a daemon of tenant B: its service principal is "oid" and "sub",
    # application permissions are in "roles", and there is no "scp"
    my $sp = '5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e';
    admitted('/api/orders',
             $tok->($b, oid => $sp, sub => $sp, scp => undef, name => undef,
                    preferred_username => undef, idtyp => 'app',
                    roles => ['Orders.Reader']),
             { 'X-Tenant-ID' => $b, 'X-Tenant-User' => $sp,
               'X-Tenant-Role' => 'Orders.Reader' },
             'an app-only token of customer tenant B (roles, no scp)');
    refused($gw, '/api/orders', $tok->($other), 'iss',
            'a tenant not onboarded');
    refused($gw, '/api/orders', $tok->($home), 'iss',
            'the home tenant, not listed in tenant_jwt_issuer');
    refused($gw, '/api/orders', $tok->($a, iss => "https://sts.windows.net/$a/",
                                  aud => "api://$app", ver => '1.0'),
            'iss', 'a v1.0 token');
    refused($gw, '/api/orders',
            $tok->($a, aud => '00000003-0000-0000-c000-000000000000'),
            'aud', 'a token for Microsoft Graph');
    refused($gw, '/api/admin/users', $tok->($a), 'min_role',
            'an editor on an admin path');
    is((ask('/api/admin/users', $tok->($a, roles => ['Orders.Admin'])))[0],
       200, 'an admin on an admin path');
    is $idp->fetches("/$host/$home/v2.0/.well-known/openid-configuration"),
       1, 'the discovery document was fetched once';
    unlike $gw->error_log, qr/\[(?:error|crit|alert|emerg)\]/, 'no error';
};


done_testing;
