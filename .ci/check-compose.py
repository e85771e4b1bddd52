"""docker-compose.yml publishes the service's port only (never PostgreSQL's)
and runs the service with credentials required."""

import sys

import yaml

with open("docker-compose.yml", encoding="utf-8") as file:
    compose = yaml.safe_load(file)

services = compose["services"]
published = sorted(name for name, service in services.items() if service.get("ports"))
problems = []
if published != ["service"]:
    problems.append(f"only 'service' may publish ports; these do: {published}")
env = services.get("service", {}).get("environment", {})
for variable, expected in [("AUTH", "required"), ("API_HOST", "0.0.0.0")]:
    if env.get(variable) != expected:
        problems.append(f"service: {variable} must be {expected!r}, not {env.get(variable)!r}")
if not env.get("ALLOWED_HOSTS"):
    problems.append("service: ALLOWED_HOSTS must be set")
for problem in problems:
    print(f"docker-compose.yml: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
