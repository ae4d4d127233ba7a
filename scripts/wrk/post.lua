-- POSTs one GraphQL body (from the environment variable BODY) on every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")

-- Counts answers that are not 200 or carry GraphQL errors, so a fast error is never a result.
local errors = 0
function response(status, headers, body)
  -- Other statuses are in summary.errors.status already.
  if status == 200 and string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("p50=%.2fms p99=%.2fms non_2xx_or_error=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + errors))
end
