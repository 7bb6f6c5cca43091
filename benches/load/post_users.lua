-- wrk script: POST /users with a different pre-made JWE per request (unique emails).
-- env: TOKENS_FILE (one compact JWE per line), TOKEN (bearer), THREADS (wrk -t)
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
  step = tonumber(os.getenv("THREADS"))
  index = id + 1
  non_201 = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/jose"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

function request()
  local body = tokens[index]
  if body == nil then
    index = id + 1 -- wrapped around: later requests become 409s, counted below
    body = tokens[index]
  end
  index = index + step
  return wrk.format(nil, "/users", nil, body)
end

function response(status, headers, body)
  if status ~= 201 then non_201 = non_201 + 1 end
end

function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do failures = failures + thread:get("non_201") end
  io.write(string.format("non-201 responses: %d\n", failures))
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
