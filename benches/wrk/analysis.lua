-- userRiskAnalysis of a random user among USERS (ids 1..USERS), the id in
-- the variables, as a client sends it (the document's text never changes).
local users = tonumber(os.getenv("USERS") or "1000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local id = math.random(1, users)
  local body = string.format(
    '{"query":"query Analysis($id: ID!) { userRiskAnalysis(userId: $id) { riskScore riskLevel patterns messages factors { name contribution } recentPayments(first: 10) { amount status paymentDate } subscriptions { subscriptionType monthlyAmount } } }","variables":{"id":"%d"}}', id)
  return wrk.format(nil, nil, nil, body)
end
