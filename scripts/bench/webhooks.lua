-- wrk script: POST pre-signed Twilio SMS webhooks, a different one per request.
-- Arguments (after --): POOL_FILE PATH THREADS. Each pool line is "signature<TAB>urlencoded body",
-- signed by scale.py with the twilio library's RequestValidator. Thread k of n sends lines
-- k, k+n, k+2n...; past the end it starts again and counts the replays. done() prints one
-- line "WRK_JSON {...}" with the totals and latency percentiles in microseconds.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  pool = {}
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    pool[#pool + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  path = args[2]
  nthreads = tonumber(args[3]) or 2
  index = id
  replays = 0
end

function request()
  if index >= #pool then
    index = index % #pool
    replays = replays + 1
  end
  local item = pool[index + 1]
  index = index + nthreads
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = item[1],
  }, item[2])
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + (thread:get("replays") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"non_2xx":%d,"timeouts":%d,"pool_wraps":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    wrapped, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
