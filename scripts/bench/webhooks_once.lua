-- wrk script: POST each pre-signed Twilio SMS webhook of the pool exactly once, then idle.
-- Arguments (after --): POOL_FILE PATH THREADS. Each pool line is "signature<TAB>urlencoded body"
-- (as for webhooks.lua). Thread k of n sends lines k, k+n, k+2n...; once its lines are all sent
-- its connections wait (delay) instead of replaying, so exactly the pool is posted; the caller
-- stops wrk (SIGINT) once the app has stored every text. done() prints one line
-- "WRK_JSON {...}" with the totals and latency percentiles in microseconds.

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
  -- wrk calls thread 0's request() once at start-up to check it, and sends nothing of it
  checked = id ~= 0
end

function delay()
  -- past this thread's share: park the connection for an hour (wrk is stopped long before)
  if index >= #pool then
    return 3600000
  end
  return 0
end

function request()
  local item = pool[index + 1] or pool[1]
  if not checked then
    checked = true
  else
    index = index + nthreads
  end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = item[1],
  }, item[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"non_2xx":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
