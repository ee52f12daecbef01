-- The line that bench/run.pl and bench/negotiate.pl read from every wrk
-- run, for the scripts that send the requests (proxy.lua, negotiate.lua):
--   BENCH requests=N duration_us=N status=N connect=N read=N write=N timeout=N p50_us=N p99_us=N
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
      e.timeout, latency:percentile(50), latency:percentile(99)))
end
