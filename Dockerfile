# syntax=docker/dockerfile:1
# Roster server image: `docker build -t roster .` (docker-compose.yml uses it).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so editing code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the embedded SQLite driver needs no cgo), so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/roster ./cmd/roster \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/roster /usr/local/bin/roster
# /data belongs to the runtime user, so a new volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /data
# Metrics on every interface of the container (its network is the boundary;
# publish 9464 only to the scraper), logs as JSON lines for a log collector.
ENV ROSTER_ADDR=:8080 \
    ROSTER_DATA_DIR=/data \
    ROSTER_METRICS_ADDR=:9464 \
    ROSTER_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080 9464
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["serve"]
