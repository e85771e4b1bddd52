-- recordPayment for a random user among USERS, or always HOT_USER when set;
-- the payment in the variables, as a client sends it.
local users = tonumber(os.getenv("USERS") or "1000")
local hot = os.getenv("HOT_USER")
local statuses = { "SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "DECLINED" }
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())
request = function()
  local id = hot or tostring(math.random(1, users))
  local status = statuses[math.random(1, #statuses)]
  local body = string.format(
    '{"query":"mutation Pay($input: PaymentInput!) { recordPayment(input: $input) { riskScore riskLevel } }","variables":{"input":{"userId":"%s","amount":9.99,"status":"%s","paymentDate":"2026-11-20T10:00:00Z","paymentMethod":"card"}}}',
    id, status)
  return wrk.format(nil, nil, nil, body)
end
