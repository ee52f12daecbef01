-- wrk script for bench/negotiate.pl: forward-proxy requests with Negotiate
-- tokens, each token used once (a replay cache refuses a second use).
--
-- Environment:
--   BENCH_TARGET      absolute URL of the origin object
--   BENCH_TOKENS      file prefix: thread N reads PREFIX.N, one header value
--                     ("Negotiate ...") per line
--   BENCH_FIRST_ONLY  when set to K: only the first K + 1 requests a thread
--                     builds carry a token, the others none, as a browser on
--                     a Negotiate proxy does on an authenticated connection.
--                     wrk builds one request per thread before its
--                     connections open (seen with wrk 4.1), then one for
--                     each connection's first request before any response
--                     arrives; a connection that got none answers 407s,
--                     which flags the run
--   BENCH_CYCLE       when set: walk the lines again and again (Basic
--                     credentials, which are meant to repeat)
--
-- A thread that runs out of tokens sends its last one again: a replay, which
-- the proxy answers 407, and bench/negotiate.pl flags the run.

local target = os.getenv("BENCH_TARGET") or error("BENCH_TARGET not set")
local prefix = os.getenv("BENCH_TOKENS") or error("BENCH_TOKENS not set")
local first_only = tonumber(os.getenv("BENCH_FIRST_ONLY") or "0") or 0
local cycle = os.getenv("BENCH_CYCLE") ~= nil
local host = target:match("^%a+://([^/]+)")

local counter = 0
function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
end

local reqs = {}
local n = 0
local i = 0
local plain

function init(args)
   local f = assert(io.open(prefix .. "." .. tostring(id), "r"))
   for line in f:lines() do
      n = n + 1
      reqs[n] = wrk.format("GET", target, {
         ["Host"] = host,
         ["Proxy-Authorization"] = line,
      })
   end
   f:close()
   assert(n > 0, "no tokens for thread " .. tostring(id))
   plain = wrk.format("GET", target, { ["Host"] = host })
end

function request()
   i = i + 1
   if first_only > 0 and i > first_only + 1 then
      return plain
   end
   if cycle then
      return reqs[(i - 1) % n + 1]
   end
   return reqs[i] or reqs[n]
end

-- done(): the BENCH line (BENCH_DIR: this folder).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_report.lua")
