-- Shared by the wrk scripts (loaded with dofile): a registry of threads, GraphQL errors counted
-- in each thread, and the summary line the bench scripts print.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Each thread runs in its own Lua state, so this counter is per thread.
errors = 0

-- Counts answers that carry GraphQL errors, so a fast error is never a result; other statuses
-- are in summary.errors.status already.
function response(status, headers, body)
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
