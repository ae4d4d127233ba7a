-- POSTs pre-signed submitTransaction bodies, one per line of the file in TXS, each used once:
-- thread k of n takes lines k, k + n, k + 2n, … (every transaction is a fresh neuron's nonce 1).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  local n = 0
  for line in io.lines(os.getenv("TXS")) do
    if n % tonumber(os.getenv("THREADS")) == id then
      table.insert(bodies, line)
    end
    n = n + 1
  end
  next_body = 1
  errors = 0
end

function request()
  local body = bodies[next_body] or bodies[#bodies]
  next_body = next_body + 1
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  -- Other statuses are in summary.errors.status already.
  if status == 200 and string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs = 0
  for _, thread in ipairs(threads) do
    errs = errs + thread:get("errors")
  end
  io.write(string.format("p50=%.2fms p99=%.2fms non_2xx_or_error=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + errs))
end
