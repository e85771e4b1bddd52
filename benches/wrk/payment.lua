-- recordPayment for a random user among USERS, or always HOT_USER when set;
-- the payment in the variables, as a client sends it.
local users = tonumber(os.getenv("USERS") or "1000")
local hot = os.getenv("HOT_USER")
local statuses = { "SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "DECLINED" }
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- Each of wrk's threads runs this script in a Lua state of its own: seeded
-- alike, they would all pay for the same users in the same order.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end
request = function()
  local id = hot or tostring(math.random(1, users))
  local status = statuses[math.random(1, #statuses)]
  local body = string.format(
    '{"query":"mutation Pay($input: PaymentInput!) { recordPayment(input: $input) { riskScore riskLevel } }","variables":{"input":{"userId":"%s","amount":9.99,"status":"%s","paymentDate":"2026-11-20T10:00:00Z","paymentMethod":"card"}}}',
    id, status)
  return wrk.format(nil, nil, nil, body)
end
