# Cairn's build. `make test` is the one command that checks everything CI
# checks; it needs only Go and gcc, and installs its pinned tools into ./bin.

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

# Proto sources that are imported but not ours, printed offline (see cmd/protodeps).
PROTODEPS := build/protodeps

.PHONY: run build test test-kafka lint breaking generate check-generated protodeps tools fuzz clean

run: ## run the whole system in one process
	go run ./cmd/cairn dev

build: ## build bin/cairn
	go build -o $(BIN)/cairn ./cmd/cairn

test: lint breaking check-generated ## everything CI checks
	go test -race -timeout 30m ./...

# The integration suite against a real three-node Kafka cluster (Java and
# Maven needed; see scripts/kafka-cluster). The cluster starts empty and is
# stopped afterwards, also when the suite fails.
test-kafka: ## the real-cluster integration suite
	scripts/kafka-cluster clean
	@status=0; \
	scripts/kafka-cluster start >/dev/null && \
	CAIRN_KAFKA_BROKERS=$$(scripts/kafka-cluster bootstrap) go test -count=1 -timeout 20m -v ./internal/clustertest || status=$$?; \
	scripts/kafka-cluster stop; exit $$status

lint: tools protodeps
	buf lint proto
	buf format --diff --exit-code proto
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	go mod tidy -diff
	go vet ./...

# buf breaking against the previous commit: its schemas are built into an
# image from a copy of that commit, with the same offline dependencies.
breaking: tools protodeps
	@if ! git rev-parse -q --verify HEAD~1 >/dev/null || ! git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		echo "buf breaking: no previous commit with schemas; nothing to compare"; \
	else \
		prev=$$(mktemp -d) && trap 'rm -rf "$$prev"' EXIT && \
		git archive HEAD~1 | tar -x -C "$$prev" && \
		mkdir -p "$$prev/build" && cp -R $(PROTODEPS) "$$prev/build/" && \
		(cd "$$prev" && buf build proto -o image.binpb) && \
		buf breaking proto --against "$$prev/image.binpb" && \
		echo "buf breaking: no breaking change against $$(git rev-parse --short HEAD~1)"; \
	fi

generate: tools protodeps ## regenerate the Go code beside the .proto files and the embedded schema image
	buf generate
	buf build proto -o internal/schemas/cairn.binpb
	go run ./cmd/cairn schema deps examples/schema-repo/cairn-deps >/dev/null
	cd examples/schema-repo && buf generate

check-generated: generate
	@git diff --exit-code -- proto internal/schemas examples/schema-repo/gen || { echo 'generated code is stale: run make generate and commit'; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard proto internal/schemas examples/schema-repo/gen)" || { git ls-files --others --exclude-standard proto internal/schemas examples/schema-repo/gen; echo 'generated files above are not committed'; exit 1; }

protodeps:
	go run ./cmd/protodeps -out $(PROTODEPS)

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc

# Each tool is reinstalled when this Makefile (and so its pinned version) changes.
$(BIN)/buf: Makefile
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@
$(BIN)/protoc-gen-go: Makefile
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@
$(BIN)/protoc-gen-go-grpc: Makefile
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@touch $@

fuzz: ## run each fuzz test for 30 seconds
	go test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./internal/wire
	go test -run='^$$' -fuzz=FuzzDecode -fuzztime=30s ./internal/inspect
	go test -run='^$$' -fuzz=FuzzPublishPayload -fuzztime=30s ./gateway
	go test -run='^$$' -fuzz=FuzzPublishEnvelope -fuzztime=30s ./gateway
	go test -run='^$$' -fuzz=FuzzRegisterBody -fuzztime=30s ./registry
	go test -run='^$$' -fuzz=FuzzDecodeOutbox -fuzztime=30s ./workers

clean:
	rm -rf $(BIN) build

# The discovery tests against real etcd servers (Debian's etcd-server),
# failing instead of skipping without one; scripts/etcd is started and
# stopped around them so that it is checked too. Each test runs its own etcd.
.PHONY: test-etcd
test-etcd: ## discovery tests on real etcd
	scripts/etcd start
	CAIRN_REQUIRE_ETCD=1 go test -race -count=1 ./internal/discovery/... ; s=$$?; \
		CAIRN_REQUIRE_ETCD=1 go test -race -count=1 -run Etcd ./cmd/cairn || s=1; \
		scripts/etcd stop; exit $$s
