# Multi-stage build of the risk-monitor binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin risk-monitor

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app risk
WORKDIR /app
COPY --from=build /src/target/release/risk-monitor /usr/local/bin/risk-monitor
USER risk
EXPOSE 8000
ENV API_HOST=0.0.0.0 API_PORT=8000
ENTRYPOINT ["risk-monitor"]
CMD ["serve"]
