-- wrk script for bench/run: every request carries a different token.
--
--   wrk ... -s distinct.lua URL -- TOKENS_FILE [START]
--
-- TOKENS_FILE holds one JWT a line.  The requests are built once in init()
-- (one string per token) and request() hands them out in a cycle, so the
-- Lua work per request is a table lookup.  START (0-based) is where the
-- cycle begins: bench/run passes the number of requests already sent to
-- this gateway, so a new wrk run does not replay the tokens the previous
-- one just sent (they could still be in the gateway's cache).

local reqs = {}
local n = 0
local i = 0

function init(args)
    local path = args[1]
    assert(path, "distinct.lua: usage: -- TOKENS_FILE [START]")
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        if #line > 0 then
            n = n + 1
            reqs[n] = wrk.format(nil, nil,
                                 { ["Authorization"] = "Bearer " .. line })
        end
    end
    f:close()
    assert(n > 0, "distinct.lua: no tokens in " .. path)
    i = (tonumber(args[2]) or 0) % n
end

function request()
    i = i + 1
    if i > n then
        i = 1
    end
    return reqs[i]
end
