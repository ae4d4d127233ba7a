-- POSTs the GraphQL bodies of the file in BODIES, one per line, in turn: thread k of n starts at
-- line k and steps by n, wrapping around, so every connection asks a different question.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  bodies = {}
  for line in io.lines(os.getenv("BODIES")) do
    table.insert(bodies, line)
  end
  step = tonumber(os.getenv("THREADS"))
  next_body = id % #bodies + 1
end

function request()
  local body = bodies[next_body]
  next_body = (next_body - 1 + step) % #bodies + 1
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end
