use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use TenantTest;

use Digest::SHA qw(hmac_sha256);

# Inputs the fuzz targets under fuzz/ found mishandled, replayed through
# nginx.  Each also lives in fuzz/corpus/, where `make fuzz-regress` runs
# it under ASan and UBSan.

sub seg { TenantTest::b64u(shift) }

# A token signed with hmac.secret over exactly this payload text: the
# numbers below do not survive a trip through Perl's JSON encoder.
sub hs256_payload {
    my $in = seg('{"alg":"HS256","typ":"JWT"}') . '.' . seg(shift);
    return $in . '.' . seg(hmac_sha256($in, TenantTest::hmac_secret()));
}

my $exp = time() + 3600;
our $int64_min = hs256_payload(
    qq({"org_id":-9223372036854775808,"sub":-9223372036854775808,)
    . qq("exp":$exp}));
our $int64_max = hs256_payload(
    qq({"org_id":9223372036854775807,"sub":-1,"exp":$exp}));

# Strings inside an array: DEL, NEL (U+0085), LINE SEPARATOR (U+2028).
our $array_controls = hs256_payload(
    qq({"org_id":"acme","del":["a\\u007fb"],"nel":{"k":"a\\u0085b"},)
    . qq("ls":["a\\u2028b"],"ok":["a","b"],"exp":$exp}));

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an integer tenant claim of -2^63 is the tenant "-9223372036854775808"
fuzz_claims: nginx's "%L" negated INT64_MIN, an overflow (UBSan).
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id user=$tenant_user header=$http_x_tenant_id";
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::int64_min"
--- error_code: 200
--- response_body
tenant=-9223372036854775808 user=-9223372036854775808 header=-9223372036854775808
--- no_error_log
[error]



=== TEST 2: the other end, 2^63 - 1, and a small negative user
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "tenant=$tenant_id user=$tenant_user";
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::int64_max"
--- error_code: 200
--- response_body
tenant=9223372036854775807 user=-1
--- no_error_log
[error]



=== TEST 3: $jwt_claim_* of an array or object holding a control has no value
fuzz_claims: JSON escapes C0 only, so DEL and C1 in a string inside an array
or object went out raw, where the same string alone has no value.
--- config
    location /t {
        tenant_jwt on;
        tenant_jwt_key_file $TEST_NGINX_DATA_DIR/hmac.secret;
        echo "del=[$jwt_claim_del] nel=[$jwt_claim_nel] ls=[$jwt_claim_ls] ok=[$jwt_claim_ok]";
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::array_controls"
--- error_code: 200
--- response_body
del=[] nel=[] ls=[] ok=[["a","b"]]
--- no_error_log
[error]
