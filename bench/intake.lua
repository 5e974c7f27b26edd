-- wrk script: POST the sample document with a fresh CodeNumber (and so DocumentId) per request.
-- usage: wrk -s bench/intake.lua URL -- SAMPLE_FILE TOKEN OFFSET [RATE]
--
-- Without RATE, every connection sends its next request as soon as the answer to the previous one
-- is in (as fast as wrk goes). With RATE, each wrk thread sends RATE requests per second on a fixed
-- schedule (so run paced loads with -t1): wrk asks delay() before each request, and delay() hands
-- the connection the next free slot of the schedule start + k / RATE. Slots are fixed in advance, so
-- a slow answer does not lower the offered rate as long as some connection is free when a slot
-- comes; a request that went out more than one interval after its slot counts as `late`.
local ffi = require("ffi")
ffi.cdef [[
  struct lienthong_timespec { long tv_sec; long tv_nsec; };
  int clock_gettime(int clock, struct lienthong_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local clock_buffer = ffi.new("struct lienthong_timespec")

local template, token, offset, interval, next_slot
local counter = 0
local threads = {}
local next_id = 1
late = 0 -- globals, so that done() can read them from each thread
max_lag_ms = 0

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock_buffer)
  return tonumber(clock_buffer.tv_sec) * 1000 + tonumber(clock_buffer.tv_nsec) / 1e6
end

local function paced_delay()
  local now = now_ms()
  next_slot = next_slot or now
  local wait = next_slot - now
  next_slot = next_slot + interval
  if wait >= 0 then
    return math.ceil(wait)
  end
  max_lag_ms = math.max(max_lag_ms, -wait)
  if -wait > interval then
    late = late + 1
  end
  return 0
end

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  template = file:read("*all")
  file:close()
  token = args[2]
  offset = tonumber(args[3] or "0")
  local rate = tonumber(args[4] or "")
  if rate then
    interval = 1000 / rate
    delay = paced_delay -- wrk paces requests only when the script defines delay()
  end
end

function request()
  counter = counter + 1
  local number = tostring(offset + id * 1000000 + counter)
  local body = template:gsub("1234/VP%-KSTT", number .. "/VP-KSTT"):gsub(">1234<", ">" .. number .. "<")
  return wrk.format("POST", "/api/v1/documents",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/xml" }, body)
end

function done(summary, latency, requests)
  local late_total, lag = 0, 0
  for _, thread in ipairs(threads) do
    late_total = late_total + thread:get("late")
    lag = math.max(lag, thread:get("max_lag_ms"))
  end
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "rate_per_s": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "not_2xx": %d, "socket_errors": %d, "late": %d, ' ..
    '"max_lag_ms": %.1f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    late_total, lag))
end
