# tokenstorm as a container image: one static binary on a minimal base, for
# running storm shards as a Kubernetes Indexed Job (docs/scale.md).
#   docker build -t tokenstorm:dev .
#   docker run --rm tokenstorm:dev storm synchronized-expiry --out /tmp/report
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO off: a static binary that needs no libc in the image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tokenstorm ./cmd/tokenstorm

# distroless/static: CA certificates, /etc/passwd with nonroot, tzdata; no
# shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenstorm /tokenstorm
USER nonroot:nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/tokenstorm"]
CMD ["--help"]
