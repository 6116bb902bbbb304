# make test: everything CI runs. make build: the static binary.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build test deps vet

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o parley ./cmd/parley

deps:
	@if [ -f e2e/mcpts/package-lock.json ] && command -v npm >/dev/null 2>&1; then \
		cd e2e/mcpts && npm ci --no-audit --no-fund --loglevel=error; \
	fi

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: deps vet
	$(GO) test -race -count=1 -timeout 15m ./...
