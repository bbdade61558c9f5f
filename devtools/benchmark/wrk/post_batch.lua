-- wrk script: POST a batch of BENCH_BATCH (default 500) realistic native plate reads per
-- request to /api/events/ingest/, as a device does after being offline.
-- Environment: BENCH_KEY (device key), BENCH_CAMERAS, BENCH_BATCH.
local L = "ABCDEFGHJKLMNPRSTUVWXYZ"
local D = "0123456789"
local colors = { "silver", "black", "white", "blue", "red", "grey" }
local types = { "Sedan", "SUV", "Van", "Pickup Truck", "Bus", "Motorcycle" }
local cameras = tonumber(os.getenv("BENCH_CAMERAS") or "200")
local size = tonumber(os.getenv("BENCH_BATCH") or "500")
local counter = 0
local thread_tag = ""

local function pick(s)
  local i = math.random(#s)
  return s:sub(i, i)
end

function init(args)
  local addr = tonumber((tostring({}):match("0x(%x+)") or "0"), 16) % 1000003
  math.randomseed(os.time() + addr)
  thread_tag = string.format("%x%x", os.time(), math.random(0, 0xffffff))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. (os.getenv("BENCH_KEY") or "")

request = function()
  local items = {}
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 3600)
  for i = 1, size do
    counter = counter + 1
    items[i] = string.format(
      '{"event_id":"wrkb-%s-%d","camera":"bench-cam-%03d","plate":"%s%s%s%s%s%s%s",' ..
      '"captured_at":"%s.%03dZ","confidence":%.3f,"vehicle_type":"%s",' ..
      '"vehicle_color":"%s","direction":"%s","lane":%d}',
      thread_tag, counter, math.random(1, cameras),
      pick(L), pick(L), pick(D), pick(D), pick(L), pick(L), pick(L),
      stamp, math.random(0, 999), 0.55 + math.random() * 0.449,
      types[math.random(#types)], colors[math.random(#colors)],
      (math.random() < 0.5) and "in" or "out", math.random(1, 4))
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(items, ",") .. "]")
end

done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f req_per_s=%.1f p50_ms=%.2f p99_ms=%.2f " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
