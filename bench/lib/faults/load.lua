-- wrk script of bench/faults: one tenant per wrk thread, every response
-- counted by status, $tenant_limit_status and reject reason.
--
--   wrk -tN -cM ... -s load.lua URL -- THREADS_FILE
--
-- THREADS_FILE has a line per thread, "TENANT PACE_MS TOKEN": thread k
-- (in the order setup() sees them) sends TENANT's token, and waits
-- PACE_MS before each request of each of its connections (0: none).
-- done() prints one line per thread and kind of response:
--
--   WRK <tab> TENANT <tab> STATUS <tab> LIMIT <tab> REASON <tab> COUNT
--
-- then "WRKERR <tab> connect read write timeout" and
-- "WRKLAT <tab> max_ms p99_ms requests".

local threads = {}
local lines = {}
local nthreads = 0

local function read_lines(path)
    local t = {}
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        if #line > 0 then
            t[#t + 1] = line
        end
    end
    f:close()
    return t
end

function setup(thread)
    nthreads = nthreads + 1
    thread:set("index", nthreads)
    threads[nthreads] = thread
end

-- per thread from here
local req
local pace = 0
counts = {}
tenant = "?"

function init(args)
    local path = assert(args[1], "load.lua: usage: -- THREADS_FILE")
    local all = read_lines(path)
    assert(#all > 0, "load.lua: no lines in " .. path)
    local line = all[((index - 1) % #all) + 1]
    local t, p, tok = string.match(line, "^(%S+)%s+(%d+)%s+(%S+)$")
    assert(tok, "load.lua: bad line: " .. line)
    tenant = t
    pace = tonumber(p)
    req = wrk.format("GET", "/load/" .. t, {
        ["Host"] = "gateway",
        ["Authorization"] = "Bearer " .. tok,
    })
end

function delay()
    return pace
end

function request()
    return req
end

function response(status, headers, body)
    local key = status .. "\t" .. (headers["X-Limit-Status"] or "-")
                .. "\t" .. (headers["X-Reject"] or "-")
    counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
    for _, thread in ipairs(threads) do
        local t = thread:get("tenant")
        local c = thread:get("counts")
        for key, n in pairs(c) do
            io.write("WRK\t", t, "\t", key, "\t", n, "\n")
        end
    end
    local e = summary.errors
    io.write(string.format("WRKERR\t%d %d %d %d\n",
                           e.connect, e.read, e.write, e.timeout))
    io.write(string.format("WRKLAT\t%.3f %.3f %d\n", latency.max / 1000,
                           latency:percentile(99) / 1000, summary.requests))
end
