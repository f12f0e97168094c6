-- Replays pre-signed requests for wrk: `wrk ... -s replay.lua URL -- FILE THREADS MODE`.
-- FILE has one request a line: path TAB Stripe-Signature TAB body. Thread k sends lines
-- k, k+THREADS, ... so no two threads send the same line. MODE "once" never repeats a line
-- (unique events; running out is counted in `exhausted` and the run is void); "cycle" loops.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local requests = {}
local count = 0
local index = 0
local cycle = false
exhausted = 0
s2xx, s4xx, s5xx, sother = 0, 0, 0, 0

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  cycle = args[3] == "cycle"
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == tid then
      local path, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      count = count + 1
      requests[count] = wrk.format("POST", path,
        {["Content-Type"] = "application/json", ["Stripe-Signature"] = sig}, body)
    end
    line_no = line_no + 1
  end
end

function request()
  index = index + 1
  if index > count then
    if not cycle then exhausted = exhausted + 1 end
    index = 1
  end
  return requests[index]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status >= 400 and status < 500 then s4xx = s4xx + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local t = {exhausted = 0, s2xx = 0, s4xx = 0, s5xx = 0, sother = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "s2xx": %d, "s4xx": %d, "s5xx": %d, "sother": %d, "exhausted": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout,
    t.s2xx, t.s4xx, t.s5xx, t.sother, t.exhausted))
end
