-- wrk script: POSTs pre-generated notification bodies, each at most once per run.
-- BENCH_BODIES=BASE: thread i (0-based) sends the lines of BASE.i in order, so no two threads
-- share a body. BENCH_PATH: the notify path. A thread that runs out of bodies starts its file
-- again; done() prints how often that happened ("wrapped=N"), which the runner treats as a
-- failed run for the daemon (a redelivery is not a new message).
local base = os.getenv("BENCH_BODIES")
local path = os.getenv("BENCH_PATH") or "/lianpay/notify"
local threads = {}

function setup(thread)
    thread:set("file", base .. "." .. #threads)
    table.insert(threads, thread)
end

function init(args)
    reqs = {}
    local headers = { ["Content-Type"] = "application/json;charset=utf-8" }
    for line in io.lines(file) do
        reqs[#reqs + 1] = wrk.format("POST", path, headers, line)
    end
    if #reqs == 0 then
        error("no bodies in " .. file)
    end
    n, i, wrapped = #reqs, 0, 0
end

function request()
    i = i + 1
    if i > n then
        i, wrapped = 1, wrapped + 1
    end
    return reqs[i]
end

function done(summary, latency, requests)
    local w = 0
    for _, t in ipairs(threads) do
        w = w + t:get("wrapped")
    end
    io.write(string.format("wrapped=%d\n", w))
end
