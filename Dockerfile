# A small static image: todod is cgo-free, so it runs on a distroless base as
# a non-root user. Build: docker build -t todod .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/todod ./cmd/todod \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/todod /usr/local/bin/todod
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Listen on all interfaces inside the container; publish the port to choose who reaches it.
ENV HOST=0.0.0.0 PORT=8000 DATABASE_URL=sqlite:////data/todod.db
EXPOSE 8000
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/todod", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/todod"]
CMD ["serve"]
