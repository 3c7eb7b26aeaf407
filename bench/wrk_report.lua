-- wrk's report for bench/web.py: one JSON line with the figures it needs (latencies in µs).
-- Non-2xx answers count as errors, so a redirect to the login page is never a fast success.
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, bad, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
