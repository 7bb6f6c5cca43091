-- wrk script: GET /users/{id} over a list of existing ids.
-- env: IDS_FILE (one uuid per line), TOKEN (bearer)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
  index = 1
  non_200 = 0
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

function request()
  index = index % #ids + 1
  return wrk.format("GET", "/users/" .. ids[index])
end

function response(status, headers, body)
  if status ~= 200 then non_200 = non_200 + 1 end
end

function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do failures = failures + thread:get("non_200") end
  io.write(string.format("non-200 responses: %d\n", failures))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("latency p%s: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  if os.getenv("QUANTILES") then
    -- The run's latency distribution as 1,000 quantiles (µs), so that runs can be
    -- pooled (benches/abuse/pool.py).
    local values = {}
    for q = 1, 1000 do values[q] = latency:percentile(q / 10) end
    io.write(string.format("quantiles: %d %s\n", summary.requests, table.concat(values, " ")))
  end
end
