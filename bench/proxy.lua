-- wrk script for bench/run.pl: absolute-form forward-proxy requests.
--
-- Environment:
--   BENCH_TARGET   absolute URL of the origin object (http://127.0.0.1:PORT/obj.txt)
--   BENCH_CREDS    file with one "Basic ..." header value per line (optional)
--   BENCH_USERS    how many of its lines to rotate through (0 or unset: no
--                  Proxy-Authorization at all, the 407 path)
--
-- Each thread starts at its own offset and walks the list, one user per request.
-- done() prints one line that run.pl parses:
--   BENCH requests=N duration_us=N status=N connect=N read=N write=N timeout=N ...

local target = os.getenv("BENCH_TARGET") or error("BENCH_TARGET not set")
local creds_file = os.getenv("BENCH_CREDS")
local nusers = tonumber(os.getenv("BENCH_USERS") or "0") or 0
local host = target:match("^%a+://([^/]+)")

wrk.method = "GET"
wrk.path = target
wrk.headers["Host"] = host

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

if nusers > 0 then
   local reqs = {}
   local n = 0
   local pos = 1

   function init(args)
      local f = assert(io.open(creds_file, "r"))
      for line in f:lines() do
         if n >= nusers then break end
         n = n + 1
         reqs[n] = wrk.format("GET", target, {
            ["Host"] = host,
            ["Proxy-Authorization"] = line,
         })
      end
      f:close()
      assert(n > 0, "no credentials in " .. creds_file)
      -- spread the threads over the list
      pos = ((id or 1) - 1) * math.floor(n / 2) % n + 1
   end

   function request()
      local r = reqs[pos]
      pos = pos + 1
      if pos > n then pos = 1 end
      return r
   end
end

-- done(): the BENCH line (BENCH_DIR: this folder).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_report.lua")
