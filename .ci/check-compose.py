"""docker-compose.yml publishes the load balancer's port only (never the
replicas' or PostgreSQL's), runs at least two replicas of the service with
credentials required, and the load balancer forwards WebSocket upgrades."""

import sys

import yaml

with open("docker-compose.yml", encoding="utf-8") as file:
    compose = yaml.safe_load(file)

services = compose["services"]
published = sorted(name for name, service in services.items() if service.get("ports"))
problems = []
if published != ["proxy"]:
    problems.append(f"only 'proxy' may publish ports; these do: {published}")
service = services.get("service", {})
replicas = service.get("deploy", {}).get("replicas", 1)
if replicas < 2:
    problems.append(f"service: run at least two replicas, not {replicas}")
proxy_volumes = " ".join(services.get("proxy", {}).get("volumes", []))
if "deploy/nginx.conf" not in proxy_volumes:
    problems.append("proxy: mount deploy/nginx.conf")
with open("deploy/nginx.conf", encoding="utf-8") as file:
    nginx = file.read()
for needle in ["server service:8000", "proxy_set_header Upgrade", "proxy_set_header Host"]:
    if needle not in nginx:
        problems.append(f"deploy/nginx.conf: missing {needle!r}")
env = service.get("environment", {})
for variable, expected in [("AUTH", "required"), ("API_HOST", "0.0.0.0")]:
    if env.get(variable) != expected:
        problems.append(f"service: {variable} must be {expected!r}, not {env.get(variable)!r}")
if not env.get("ALLOWED_HOSTS"):
    problems.append("service: ALLOWED_HOSTS must be set")
for problem in problems:
    print(f"docker-compose.yml: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
