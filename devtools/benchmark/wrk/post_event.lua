-- wrk script: POST one realistic native plate read per request to /api/events/ingest/.
-- Environment: BENCH_KEY (device key), BENCH_CAMERAS (number of cameras bench-cam-001...).
-- Each request has a fresh event_id, so every request stores a row (no duplicates).
-- Optional: BENCH_CANDIDATES (OCR candidates per read, random plates) and BENCH_LISTED (a file
-- of plates, one a line: every 100th read is one of them), for `benchmark ingest --watchlist`.
local L = "ABCDEFGHJKLMNPRSTUVWXYZ"
local D = "0123456789"
local colors = { "silver", "black", "white", "blue", "red", "grey" }
local types = { "Sedan", "SUV", "Van", "Pickup Truck", "Bus", "Motorcycle" }
local makes = { {"Toyota", "Corolla"}, {"Ford", "Transit"}, {"Volkswagen", "Golf"},
                {"BMW", "320d"}, {"Tesla", "Model 3"}, {"Skoda", "Octavia"} }
local cameras = tonumber(os.getenv("BENCH_CAMERAS") or "200")
local counter = 0
local candidates = tonumber(os.getenv("BENCH_CANDIDATES") or "0")
local listed = {}
if os.getenv("BENCH_LISTED") then
  for line in io.lines(os.getenv("BENCH_LISTED")) do listed[#listed + 1] = line end
end
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

local function random_plate()
  return pick(L) .. pick(L) .. pick(D) .. pick(D) .. " " .. pick(L) .. pick(L) .. pick(L)
end

local function extra()
  local parts = {}
  for _ = 1, candidates do
    parts[#parts + 1] = string.format('{"plate":"%s","confidence":0.3}', random_plate())
  end
  if #parts == 0 then return "" end
  return ',"candidates":[' .. table.concat(parts, ",") .. "]"
end

request = function()
  counter = counter + 1
  local plate = random_plate()
  if #listed > 0 and counter % 100 == 0 then plate = listed[math.random(#listed)] end
  local mk = makes[math.random(#makes)]
  local x, y = math.random(0, 1600), math.random(0, 900)
  local body = string.format(
    '{"event_id":"wrk-%s-%d","camera":"bench-cam-%03d","plate":"%s",' ..
    '"captured_at":"%s.%03dZ","confidence":%.3f,"vehicle_type":"%s",' ..
    '"vehicle_color":"%s","vehicle_make":"%s","vehicle_model":"%s","direction":"%s",' ..
    '"plate_box":[%d,%d,%d,%d],"speed_kmh":%.1f,"lane":%d%s}',
    thread_tag, counter, math.random(1, cameras),
    plate,
    os.date("!%Y-%m-%dT%H:%M:%S"), math.random(0, 999), 0.55 + math.random() * 0.449,
    types[math.random(#types)], colors[math.random(#colors)], mk[1], mk[2],
    (math.random() < 0.5) and "in" or "out",
    x, y, x + math.random(120, 260), y + math.random(30, 70), 5 + math.random() * 105,
    math.random(1, 4), extra())
  return wrk.format(nil, nil, nil, body)
end

-- One machine-readable line (wrk's latencies are in microseconds).
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
