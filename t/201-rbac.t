use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

# conf.d/rbac.conf as it is shipped, with only its placeholders replaced
# (as in t/060-examples.t): the key under /etc/nginx/tenant/ by the fixture
# in t/data, "listen 8080" by a port next to the test server's, the
# upstream 127.0.0.1:8081 by the test server itself.
#
# A request goes   client -> test server /as/ROLE/...   (--- config, below)
#                         -> the example's server       (--- http_config)
#                         -> test server /...           (the example's upstream)
# The first hop adds "Authorization: Bearer <RS256 token with role ROLE>",
# so that one block can ask the same thing as each role in turn; the last
# hop answers with what it was asked and the role it was told.  A refused
# request gets the module's JSON error instead, so an exact body also
# proves that the application was never reached.
#
# One block per row of the matrix in rbac.conf, one request per role in
# the order owner, admin, editor, viewer.

our $EXAMPLES = abs_path(dirname(__FILE__) . '/../conf.d');
our $GW = $Test::Nginx::Util::ServerPort + 1;

our @ROLES = qw(owner admin editor viewer);

our $Refused = qq{{"error":"insufficient_role","message":"your role does not allow this action"}\n};

sub example {
    my ($file) = @_;

    open my $fh, '<', "$EXAMPLES/$file" or die "$EXAMPLES/$file: $!\n";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $port = $Test::Nginx::Util::ServerPort;

    $conf =~ s{/etc/nginx/tenant/}{$ENV{TEST_NGINX_DATA_DIR}/}g;
    $conf =~ s{\b127\.0\.0\.1:8081\b}{127.0.0.1:$port}g
        or die "$file: no upstream 127.0.0.1:8081\n";
    $conf =~ s{\blisten\s+8080\s*;}{listen 127.0.0.1:$GW;}g
        or die "$file: no \"listen 8080;\"\n";
    $conf =~ s{/var/log/nginx/[\w.-]+}{logs/access.log}g;

    return $conf;
}

# /as/ROLE/PATH reaches the example's PATH with a token of that role;
# /as/norole/ with a token that has no role claim, /anon/ with no token.
sub front {
    my $conf = '';

    for my $role (@ROLES, qw(guest Admin norole)) {
        my $token = TenantTest::jwt(alg => 'RS256',
            claims => { role => $role eq 'norole' ? undef : $role });

        $conf .= <<"_EOC_";
    location /as/$role/ {
        proxy_set_header Authorization "Bearer $token";
        proxy_pass http://127.0.0.1:$GW/;
    }

_EOC_
    }

    return $conf . <<"_EOC_";
    location /anon/ {
        proxy_pass http://127.0.0.1:$GW/;
    }

    location / {
        echo "app: \$request_method \$uri tenant=[\$http_x_tenant_id] role=[\$http_x_tenant_role]";
    }
_EOC_
}

# the four requests of a row: METHOD PATH as owner, admin, editor, viewer
sub row {
    my ($method, $path) = @_;
    return [map { "$method /as/$_$path" } @ROLES];
}

# the bodies of a row: the application's answer where the code is 200
sub bodies {
    my ($method, $path, @codes) = @_;
    my @b;
    for my $i (0 .. $#ROLES) {
        push @b, $codes[$i] == 200
                 ? "app: $method $path tenant=[acme] role=[$ROLES[$i]]\n"
                 : $Refused;
    }
    return \@b;
}

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: view the dashboard (GET /api/dashboard): owner, admin, editor, viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('GET', '/api/dashboard')
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
main::bodies('GET', '/api/dashboard', 200, 200, 200, 200)
--- no_error_log
[error]
tenant: rejected



=== TEST 2: generate content (POST /api/content/generate): owner, admin, editor; not viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('POST', '/api/content/generate')
--- error_code eval
[200, 200, 200, 403]
--- response_body eval
main::bodies('POST', '/api/content/generate', 200, 200, 200, 403)
--- no_error_log
[error]



=== TEST 3: approve content (POST /api/content/ID/approve): owner, admin; not editor, viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('POST', '/api/content/c-42/approve')
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
main::bodies('POST', '/api/content/c-42/approve', 200, 200, 403, 403)
--- no_error_log
[error]



=== TEST 4: publish content (POST /api/content/ID/publish): owner, admin, editor; not viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('POST', '/api/content/c-42/publish')
--- error_code eval
[200, 200, 200, 403]
--- response_body eval
main::bodies('POST', '/api/content/c-42/publish', 200, 200, 200, 403)
--- no_error_log
[error]



=== TEST 5: configure platforms (/api/platforms): owner, admin; not editor, viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('PUT', '/api/platforms/linkedin')
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
main::bodies('PUT', '/api/platforms/linkedin', 200, 200, 403, 403)
--- no_error_log
[error]



=== TEST 6: manage team members (/api/members): owner, admin; not editor, viewer
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('POST', '/api/members')
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
main::bodies('POST', '/api/members', 200, 200, 403, 403)
--- no_error_log
[error]



=== TEST 7: billing (/api/billing): owner only
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('GET', '/api/billing/invoices')
--- error_code eval
[200, 403, 403, 403]
--- response_body eval
main::bodies('GET', '/api/billing/invoices', 200, 403, 403, 403)
--- no_error_log
[error]



=== TEST 8: delete the organization (DELETE /api/org): owner only
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('DELETE', '/api/org')
--- error_code eval
[200, 403, 403, 403]
--- response_body eval
main::bodies('DELETE', '/api/org', 200, 403, 403, 403)
--- no_error_log
[error]



=== TEST 9: a trailing slash does not fall through to the weaker default (approve, org, generate)
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
["POST /as/editor/api/content/c-42/approve/", "DELETE /as/admin/api/org/",
 "POST /as/viewer/api/content/generate/", "POST /as/admin/api/content/c-42/approve/"]
--- error_code eval
[403, 403, 403, 200]
--- response_body eval
[$main::Refused, $main::Refused, $main::Refused,
 "app: POST /api/content/c-42/approve/ tenant=[acme] role=[admin]\n"]
--- no_error_log
[error]



=== TEST 10: any other path admits every role of the hierarchy
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
main::row('GET', '/api/content/drafts')
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
main::bodies('GET', '/api/content/drafts', 200, 200, 200, 200)
--- no_error_log
[error]
tenant: rejected



=== TEST 11: a role not in the hierarchy ("guest") is refused everywhere, the dashboard and unlisted paths included
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
["GET /as/guest/api/dashboard", "POST /as/guest/api/content/generate",
 "POST /as/guest/api/content/c-42/approve", "POST /as/guest/api/content/c-42/publish",
 "GET /as/guest/api/platforms", "GET /as/guest/api/members",
 "GET /as/guest/api/billing", "DELETE /as/guest/api/org",
 "GET /as/guest/api/content/drafts", "GET /as/guest/"]
--- error_code eval
[(403) x 10]
--- response_body eval
[($main::Refused) x 10]
--- error_log
tenant: rejected with "insufficient_role"
--- no_error_log
[error]



=== TEST 12: roles are exact: "Admin" is not admin, and a token without a role is refused everywhere
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
["GET /as/Admin/api/dashboard", "GET /as/Admin/api/members",
 "GET /as/norole/api/dashboard", "GET /as/norole/api/content/drafts"]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[($main::Refused) x 4]
--- error_log
tenant: rejected with "insufficient_role"
--- no_error_log
[error]



=== TEST 13: the health check needs no token; the API without a token is 401, not 403
--- http_config eval: main::example('rbac.conf')
--- config eval: main::front()
--- request eval
["GET /anon/healthz", "GET /anon/api/dashboard"]
--- error_code eval
[200, 401]
--- response_body_like eval
["\\Aok\\n\\z", '\A\{"error":"missing_token",']
--- no_error_log
[error]
