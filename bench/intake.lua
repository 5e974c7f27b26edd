-- wrk script: POST the sample document with a fresh CodeNumber (and so DocumentId) per request.
-- usage: wrk -s bench/intake.lua URL -- SAMPLE_FILE TOKEN OFFSET
local template, token, offset
local counter = 0
local threads = {}
local next_id = 1

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
end

function request()
  counter = counter + 1
  local number = tostring(offset + id * 1000000 + counter)
  local body = template:gsub("1234/VP%-KSTT", number .. "/VP-KSTT"):gsub(">1234<", ">" .. number .. "<")
  return wrk.format("POST", "/api/v1/documents",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/xml" }, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "rate_per_s": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "not_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
