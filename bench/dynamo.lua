-- wrk script: DynamoDB JSON-1.0 workloads with a random key in every request, and
-- response checks so that a run of error answers can never pass for a fast one.
--
--   wrk -t2 -c16 -d10s --latency -s dynamo.lua http://127.0.0.1:PORT/ -- MODE [KEYS] [VALSIZE] [PARTS]
--
-- MODE    put    (W1) PutItem {pk: "user%06d" random in [0,KEYS), val: VALSIZE chars} into `bench`
--         get    (W2) GetItem (eventually consistent) of a random preloaded key from `bench`
--         mixed  (W3) 50/50 GetItem/PutItem, uniform keys (YCSB workload A shape, not zipfian)
--         query  (W4) Query `pk = :p` on `bench2`, random partition "part%04d" in [0,PARTS) of 10 items
--         update (W5) UpdateItem `ADD #c :one` (#c = counter, a reserved word; ReturnValues
--                     UPDATED_NEW) on a random key of `bench`
--         batch  (W6) BatchWriteItem of 25 PutRequests (distinct random keys, VALSIZE chars) into `bench`
--         scan   (W7) Scan of `bench2` with Limit 100 from a random ExclusiveStartKey (100 items a page)
-- KEYS 100000, VALSIZE 1000, PARTS 1000 by default (must match what preload.py loaded).
--
-- Every request carries one fixed SigV4 Authorization header that botocore produced once
-- (sign_once.py): valid in form, but its signature matches none of these bodies. Servers
-- that verify signatures must be run with verification off for this benchmark.
--
-- Checks (response() hook):
--   * every response: status; anything outside 200..299 counts as an error (non2xx);
--   * the first and then every CHECK_EVERY-th response of each thread (env WRK_CHECK_EVERY,
--     default 16; 1 = all):
--     the body must be the real answer of the operation, else it counts as an error (bad):
--       put    2xx body without "__type"            get    body has "Item" with "pk"
--       query  body has "Count":10                  update body has "Attributes" with "counter"
--       batch  body has "UnprocessedItems":{} (empty: every item written)
--       scan   body has "Count":100 or a shorter last page without "LastEvaluatedKey"
--       mixed  body has "Item" or is a put answer; and at the end, the sampled bodies with
--              "Item" must be about half (a shortfall past 4 sigma of the binomial counts as bad:
--              a server that answers every GetItem with {} cannot hide among the puts).
-- Bodies are checked on a sample only because the check costs driver CPU that the server
-- would otherwise get (driver and server share the machine).
--
-- done() prints one line "RESULT {json}" that bench/harness.py parses.

local AUTH = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/dynamodb/aws4_request, "
  .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
  .. "Signature=2801cce5184b91b7d0743103dd33a2f1074d7f3abd3ef7a26aee3e5e5c152737"
local AMZ_DATE = "20261122T173741Z"

local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

mode = "?"  -- global so that done() can read it with thread:get
local nkeys, nparts, check_every
local head_put, head_get, head_query, head_update, head_batch, head_scan  -- request line + headers up to Content-Length
local NVALS = 64
local put_pre, put_posts, get_pre, get_post, q_pre, q_post, u_pre, u_post, b_pre, b_mid, b_post
local random, format, concat, find = math.random, string.format, table.concat, string.find

local function head(target)
  return "POST / HTTP/1.1\r\n"
    .. "Host: " .. wrk.headers["Host"] .. "\r\n"
    .. "Content-Type: application/x-amz-json-1.0\r\n"
    .. "X-Amz-Target: DynamoDB_20120810." .. target .. "\r\n"
    .. "X-Amz-Date: " .. AMZ_DATE .. "\r\n"
    .. "Authorization: " .. AUTH .. "\r\n"
    .. "Content-Length: "
end

local known = { put = true, get = true, mixed = true, query = true, update = true, batch = true, scan = true }

function init(args)
  mode = args[1] or "get"
  if not known[mode] then
    io.stderr:write("dynamo.lua: unknown mode " .. tostring(mode) .. "\n")
    os.exit(2)
  end
  nkeys = tonumber(args[2] or "100000")
  local valsize = tonumber(args[3] or "1000")
  nparts = tonumber(args[4] or "1000")
  check_every = tonumber(os.getenv("WRK_CHECK_EVERY") or "16")
  if check_every < 1 then check_every = 1 end
  math.randomseed(os.time() + 7919 * (tid or 0))
  -- NVALS different values per thread, picked at random per item: one value written
  -- over and over would flatter a store that compresses blocks.
  local alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  local vals = {}
  for v = 1, NVALS do
    local chars = {}
    for i = 1, valsize do
      local j = random(1, #alphabet)
      chars[i] = alphabet:sub(j, j)
    end
    vals[v] = concat(chars)
  end
  head_put, head_get, head_query = head("PutItem"), head("GetItem"), head("Query")
  head_update, head_batch, head_scan = head("UpdateItem"), head("BatchWriteItem"), head("Scan")
  put_pre = '{"TableName":"bench","Item":{"pk":{"S":"'
  put_posts = {}
  for v = 1, NVALS do put_posts[v] = '"},"val":{"S":"' .. vals[v] .. '"}}}' end
  get_pre = '{"TableName":"bench","Key":{"pk":{"S":"'
  get_post = '"}}}'
  q_pre = '{"TableName":"bench2","KeyConditionExpression":"pk = :p",'
    .. '"ExpressionAttributeValues":{":p":{"S":"'
  q_post = '"}}}'
  u_pre = '{"TableName":"bench","Key":{"pk":{"S":"'
  -- COUNTER is a DynamoDB reserved word: the attribute `counter` must go through a #name.
  u_post = '"}},"UpdateExpression":"ADD #c :one","ExpressionAttributeNames":{"#c":"counter"},'
    .. '"ExpressionAttributeValues":{":one":{"N":"1"}},"ReturnValues":"UPDATED_NEW"}'
  b_pre = '{"RequestItems":{"bench":['
  b_mid = '{"PutRequest":{"Item":{"pk":{"S":"'   -- key follows
  b_post = ']}}'
  s_pre = '{"TableName":"bench2","Limit":100,"ExclusiveStartKey":{"pk":{"S":"'
  s_mid = '"},"sk":{"N":"'
  s_post = '"}}}'
end

local function put_req()
  local body = put_pre .. format("user%06d", random(0, nkeys - 1)) .. put_posts[random(1, NVALS)]
  return head_put .. #body .. "\r\n\r\n" .. body
end
local function get_req()
  local body = get_pre .. format("user%06d", random(0, nkeys - 1)) .. get_post
  return head_get .. #body .. "\r\n\r\n" .. body
end
local function query_req()
  local body = q_pre .. format("part%04d", random(0, nparts - 1)) .. q_post
  return head_query .. #body .. "\r\n\r\n" .. body
end
local function update_req()
  local body = u_pre .. format("user%06d", random(0, nkeys - 1)) .. u_post
  return head_update .. #body .. "\r\n\r\n" .. body
end
local function batch_req()
  -- 25 distinct keys (DynamoDB rejects a batch that names one key twice).
  local n = nkeys < 25 and nkeys or 25
  local seen, parts = {}, {}
  while #parts < n do
    local k = random(0, nkeys - 1)
    if not seen[k] then
      seen[k] = true
      parts[#parts + 1] = b_mid .. format("user%06d", k) .. put_posts[random(1, NVALS)] .. "}"
    end
  end
  local body = b_pre .. concat(parts, ",") .. b_post
  return head_batch .. #body .. "\r\n\r\n" .. body
end

local function scan_req()
  local body = s_pre .. format("part%04d", random(0, nparts - 1)) .. s_mid .. random(1, 10) .. s_post
  return head_scan .. #body .. "\r\n\r\n" .. body
end

function request()
  if mode == "get" then return get_req()
  elseif mode == "scan" then return scan_req()
  elseif mode == "put" then return put_req()
  elseif mode == "query" then return query_req()
  elseif mode == "update" then return update_req()
  elseif mode == "batch" then return batch_req()
  elseif random(2) == 1 then return get_req()
  else return put_req() end
end

-- Counters (per thread; summed in done()).
v_2xx, v_non2xx, v_checked, v_bad, v_items, v_sample, v_badsample = 0, 0, 0, 0, 0, "", ""
local nresp = 0

local function body_ok(body)
  if mode == "get" then
    return find(body, '"Item"', 1, true) ~= nil and find(body, '"pk"', 1, true) ~= nil
  elseif mode == "query" then
    return find(body, '"Count"%s*:%s*10[^%d]') ~= nil
  elseif mode == "update" then
    return find(body, '"Attributes"', 1, true) ~= nil and find(body, '"counter"', 1, true) ~= nil
  elseif mode == "batch" then
    return find(body, '"UnprocessedItems"%s*:%s*{%s*}') ~= nil
  elseif mode == "scan" then
    return find(body, '"Count"%s*:%s*100[^%d]') ~= nil
      or (find(body, '"Items"', 1, true) ~= nil and find(body, '"LastEvaluatedKey"', 1, true) == nil)
  elseif mode == "put" then
    return find(body, '"__type"', 1, true) == nil
  else -- mixed: a GetItem answer with the item, or a PutItem answer
    if find(body, '"Item"', 1, true) then
      v_items = v_items + 1
      return true
    end
    return find(body, '"__type"', 1, true) == nil
  end
end

function response(status, headers, body)
  nresp = nresp + 1
  if status < 200 or status > 299 then
    v_non2xx = v_non2xx + 1
    if v_sample == "" then v_sample = status .. " " .. (body or ""):sub(1, 200) end
    return
  end
  v_2xx = v_2xx + 1
  if (nresp - 1) % check_every == 0 then  -- the 1st, then every check_every-th
    v_checked = v_checked + 1
    if not body_ok(body or "") then
      v_bad = v_bad + 1
      if v_badsample == "" then v_badsample = status .. " " .. (body or ""):sub(1, 200) end
    end
  end
end

function done(summary, latency, requests)
  local v = { ["2xx"] = 0, non2xx = 0, checked = 0, bad = 0, items = 0 }
  local sample, badsample = "", ""
  for _, t in ipairs(threads) do
    v["2xx"] = v["2xx"] + (t:get("v_2xx") or 0)
    v.non2xx = v.non2xx + (t:get("v_non2xx") or 0)
    v.checked = v.checked + (t:get("v_checked") or 0)
    v.bad = v.bad + (t:get("v_bad") or 0)
    v.items = v.items + (t:get("v_items") or 0)
    if sample == "" then sample = t:get("v_sample") or "" end
    if badsample == "" then badsample = t:get("v_badsample") or "" end
  end
  local m = threads[1] and threads[1]:get("mode") or "?"
  if m == "mixed" and v.checked > 0 then
    -- Sampled successes with "Item" should be ~ Binomial(checked, 1/2).
    local shortfall = math.floor(v.checked / 2 - v.items - 4 * math.sqrt(v.checked) / 2)
    if shortfall > 0 then
      v.bad = v.bad + shortfall
      if badsample == "" then
        badsample = format("only %d of %d sampled answers carried an Item", v.items, v.checked)
      end
    end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(format('RESULT {"mode":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,'
    .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,'
    .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,'
    .. '"bytes":%d,"v_2xx":%d,"v_non2xx":%d,"v_checked":%d,"v_bad":%d,"v_items":%d,'
    .. '"v_sample":%q,"v_badsample":%q}\n',
    m, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, summary.bytes,
    v["2xx"], v.non2xx, v.checked, v.bad, v.items,
    (sample:gsub('[%c"\\]', "'")), (badsample:gsub('[%c"\\]', "'"))))
end
