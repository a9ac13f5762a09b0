-- wrk.lua -- request generator and success counter for scripts/bench-http.
--
-- Usage: wrk ... -s wrk.lua URL -- MODE PREFIX TOKENFILE TAG
--   MODE      register: PUT PREFIX/<token>/<id>?prevExist=false with a fresh
--                       id per request, success = 201
--             list:     GET PREFIX/<token>?quorum=false&recursive=false&
--                       sorted=false, success = 200
--   PREFIX    path before the token: "" for srvgate, "/v2/keys/_etcd/registry"
--             for etcd
--   TOKENFILE one token name a line; register spreads over all of them,
--             list uses the first
--   TAG       letters that make this run's member ids differ from other runs
-- done() prints one line: BENCH ok=<n> bad=<n> sockerr=<n> secs=<s> rps=<r>
-- where rps counts successes only; when some answer was not a success, a
-- line before it: FAILED last one: <status> <body, first 160 bytes>.

local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   prefix = args[2]
   tag = args[4]
   tokens = {}
   for line in io.lines(args[3]) do
      if line ~= "" then tokens[#tokens + 1] = line end
   end
   ok, bad = 0, 0
   want = (mode == "register") and 201 or 200
   if mode == "list" then
      list_req = wrk.format("GET", prefix .. "/" .. tokens[1] ..
                            "?quorum=false&recursive=false&sorted=false")
   end
   body = "value=m1=http://10.0.0.1:2380"
   hdrs = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
   if mode == "list" then return list_req end
   counter = counter + 1
   local tok = tokens[(counter % #tokens) + 1]
   local path = prefix .. "/" .. tok .. "/" .. tag .. tid .. "-" .. counter ..
                "?prevExist=false"
   return wrk.format("PUT", path, hdrs, body)
end

function response(status, headers, body)
   if status == want then
      ok = ok + 1
   else
      bad = bad + 1
      -- What went wrong, for the report: the last one is enough.
      last_bad = status .. " " .. string.sub(body or "", 1, 160)
   end
end

function done(summary, latency, requests)
   local o, b, why = 0, 0, nil
   for _, t in ipairs(threads) do
      o = o + t:get("ok")
      b = b + t:get("bad")
      why = why or t:get("last_bad")
   end
   if why then io.write("FAILED last one: " .. why .. "\n") end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH ok=%d bad=%d sockerr=%d secs=%.3f rps=%.1f p50ms=%.2f p99ms=%.2f\n",
      o, b, e.connect + e.read + e.write + e.timeout, secs, o / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
