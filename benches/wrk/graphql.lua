-- POST one GraphQL operation read from the environment (BODY_FILE), the
-- same body on every request.
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
