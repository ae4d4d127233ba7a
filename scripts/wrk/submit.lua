-- POSTs pre-signed submitTransaction bodies, one per line of the file in TXS, each used once:
-- thread k of n takes lines k, k + n, k + 2n, … (every transaction is a fresh neuron's nonce 1).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

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
end

function request()
  local body = bodies[next_body] or bodies[#bodies]
  next_body = next_body + 1
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end
