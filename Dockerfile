# The gateway as a container image: a static binary on a distroless base,
# running as an unprivileged user. `make static` runs the build stage's
# command locally (deploy/deploy_test.go keeps the two the same).
#
#   docker build -t ktgrpc .
#   docker run --rm -p 7878:7878 ktgrpc serve --listen 0.0.0.0:7878 --backend kt://kt.internal:1978

FROM golang:1.26.8 AS build
WORKDIR /src
# The gateway's module and the modules it replaces with local directories
# (the generated stubs, the HTTP/JSON handlers, the Go client).
COPY go.mod go.sum ./
COPY gen/go.mod gen/go.sum gen/
COPY gen/gateway/go.mod gen/gateway/go.sum gen/gateway/
COPY clients/go/go.mod clients/go/go.sum clients/go/
RUN go mod download
# The repository's .git comes along so that the binary carries its revision
# (ktgrpc --version).
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=true -ldflags='-s -w' -o /out/ktgrpc ./cmd/ktgrpc

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ktgrpc /usr/local/bin/ktgrpc
USER nonroot:nonroot
# gRPC, and the metrics listener when --metrics-listen asks for it.
EXPOSE 7878 9090
ENV KTGRPC_LISTEN=0.0.0.0:7878
ENTRYPOINT ["/usr/local/bin/ktgrpc"]
CMD ["serve"]
