-- benchgw: the Lua gateway that bench/run sets beside ngx_tenant_module,
-- built only from Debian's packages: libnginx-mod-http-lua (with
-- lua-resty-core), lua-nginx-redis (Debian's name for resty.redis, as
-- nginx.redis) and lua-cjson.  RS256 is verified with OpenSSL's libcrypto
-- through LuaJIT's FFI (EVP_DigestVerify), the way lua-resty-openssl does.
--
-- Per request, in the access phase:
--   * with jwt: the Bearer token from Authorization is split, its header
--     and claims decoded (base64url, JSON), alg must be RS256, the
--     signature is verified (no cache of verified tokens: every request
--     pays one RSA verification, as in a JWT plugin that verifies each
--     request), exp and nbf are checked, and X-Tenant-ID/User/Role/Plan/
--     Permissions are set from org_id, sub, role, plan and permissions
--     (replacing any the client sent);
--   * a fixed-window rate limit in Redis: INCR of the key's counter for
--     the current minute, then EXPIRE 60 s, both in one pipeline (one
--     round trip); the key is the token's org_id with jwt, else the
--     X-Api-Key header (or the client address).  A count over the limit
--     is refused with 429, and Redis failing with 503.  The connection
--     goes back to the worker's pool (set_keepalive).
-- header_filter() adds RateLimit-Limit and RateLimit-Remaining.
--
--   init_by_lua_block { require("benchgw").init{ redis_port = 18002,
--                       key_file = ".../rsa.pub", limit = 1000000000 } }
--   access_by_lua_block { require("benchgw").access() }
--   header_filter_by_lua_block { require("benchgw").header_filter() }

local ffi = require "ffi"
local cjson = require "cjson.safe"
local redis = require "nginx.redis"
local b64 = require "ngx.base64"

local ngx = ngx
local concat = table.concat
local type = type

local _M = {}

local conf = {}
local C            -- the library with libcrypto's symbols
local pkey         -- EVP_PKEY of the RS256 public key
local md_ctx       -- one EVP_MD_CTX per worker, reset after each use
local sha256

ffi.cdef [[
typedef struct bio_st BIO;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct engine_st ENGINE;

BIO *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(BIO *a);
EVP_PKEY *PEM_read_bio_PUBKEY(BIO *bp, EVP_PKEY **x, void *cb, void *u);
const EVP_MD *EVP_sha256(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
int EVP_MD_CTX_reset(EVP_MD_CTX *ctx);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx,
                         const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig,
                     size_t siglen, const unsigned char *tbs, size_t tbslen);
void ERR_clear_error(void);
]]

local function load_crypto()
    -- nginx itself links libcrypto: its symbols are in the global
    -- namespace; otherwise load it
    if pcall(function() return ffi.C.EVP_sha256 end) then
        return ffi.C
    end
    return ffi.load("libcrypto.so.3")
end

function _M.init(opts)
    conf.redis_port = assert(opts.redis_port, "benchgw: redis_port")
    conf.limit = opts.limit or 1000000000
    conf.pool_size = opts.pool_size or 128
    conf.timeout = opts.timeout or 1000
    conf.jwt = opts.key_file ~= nil

    if conf.jwt then
        C = load_crypto()
        local f = assert(io.open(opts.key_file, "rb"))
        local pem = f:read("*a")
        f:close()
        local bio = C.BIO_new_mem_buf(pem, #pem)
        assert(bio ~= nil, "benchgw: BIO_new_mem_buf")
        pkey = C.PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        C.BIO_free(bio)
        assert(pkey ~= nil, "benchgw: cannot read the public key")
        sha256 = C.EVP_sha256()
    end
end

local function verify_rs256(signed, sig)
    if md_ctx == nil then
        md_ctx = C.EVP_MD_CTX_new()
        assert(md_ctx ~= nil, "benchgw: EVP_MD_CTX_new")
    end
    local ok = C.EVP_DigestVerifyInit(md_ctx, nil, sha256, nil, pkey) == 1
        and C.EVP_DigestVerify(md_ctx, sig, #sig, signed, #signed) == 1
    C.EVP_MD_CTX_reset(md_ctx)
    if not ok then
        C.ERR_clear_error()
    end
    return ok
end

local function deny(status, why)
    ngx.log(ngx.INFO, "benchgw: ", why)
    return ngx.exit(status)
end

-- the token's claims, or nil and why
local function check_jwt()
    local auth = ngx.var.http_authorization
    if not auth then
        return nil, "no token"
    end
    local token = auth:match("^[Bb]earer +(%S+)$")
    if not token then
        return nil, "not a bearer token"
    end
    local h64, p64, s64 = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
    if not h64 then
        return nil, "malformed token"
    end
    local header = cjson.decode(b64.decode_base64url(h64) or "")
    if type(header) ~= "table" or header.alg ~= "RS256" then
        return nil, "alg is not RS256"
    end
    local sig = b64.decode_base64url(s64)
    if not sig or not verify_rs256(h64 .. "." .. p64, sig) then
        return nil, "bad signature"
    end
    local claims = cjson.decode(b64.decode_base64url(p64) or "")
    if type(claims) ~= "table" then
        return nil, "claims are not a JSON object"
    end
    local now = ngx.time()
    if type(claims.exp) ~= "number" or claims.exp <= now then
        return nil, "expired, or no exp"
    end
    if claims.nbf ~= nil and (type(claims.nbf) ~= "number" or claims.nbf > now) then
        return nil, "not yet valid"
    end
    if type(claims.org_id) ~= "string" or claims.org_id == ""
       or type(claims.sub) ~= "string" or claims.sub == ""
    then
        return nil, "no org_id or sub"
    end
    return claims
end

local function str(v)
    return type(v) == "string" and v or nil
end

function _M.access()
    local key
    if conf.jwt then
        local claims, err = check_jwt()
        if not claims then
            return deny(401, err)
        end
        key = claims.org_id
        local perms = claims.permissions
        if type(perms) == "table" then
            local list = {}
            for i = 1, #perms do
                if type(perms[i]) == "string" then
                    list[#list + 1] = perms[i]
                end
            end
            perms = concat(list, ",")
        else
            perms = nil
        end
        -- set_header replaces what the client sent; nil removes it
        ngx.req.set_header("X-Tenant-ID", key)
        ngx.req.set_header("X-Tenant-User", claims.sub)
        ngx.req.set_header("X-Tenant-Role", str(claims.role))
        ngx.req.set_header("X-Tenant-Plan", str(claims.plan))
        ngx.req.set_header("X-Tenant-Permissions", perms)
    else
        key = ngx.var.http_x_api_key or ngx.var.remote_addr
    end

    local red = redis:new()
    red:set_timeout(conf.timeout)   -- 0.27 has no set_timeouts
    local ok, err = red:connect("127.0.0.1", conf.redis_port)
    if not ok then
        return deny(503, "redis connect: " .. tostring(err))
    end
    local now = ngx.time()
    local window = now - now % 60
    local rkey = "ratelimit:" .. key .. ":" .. window
    red:init_pipeline(2)
    red:incr(rkey)
    red:expire(rkey, 60)
    local res
    res, err = red:commit_pipeline()
    if not res or type(res[1]) ~= "number" then
        red:close()
        return deny(503, "redis: " .. tostring(err or res and res[1]))
    end
    red:set_keepalive(60000, conf.pool_size)

    local count = res[1]
    local ctx = ngx.ctx
    ctx.rl_remaining = count >= conf.limit and 0 or conf.limit - count
    if count > conf.limit then
        return deny(429, "over the limit")
    end
end

function _M.header_filter()
    local rem = ngx.ctx.rl_remaining
    if rem then
        ngx.header["RateLimit-Limit"] = conf.limit
        ngx.header["RateLimit-Remaining"] = rem
        ngx.header["RateLimit-Reset"] = 60 - ngx.time() % 60
    end
end

return _M
