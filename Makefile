# s4c — two commands do all set-up on a fresh machine:
#   make demo   build and run the default model (../shared/models/stories260K.gguf)
#   make test   run the test suite
GO      ?= go
SHARED  ?= ../shared
MODEL   ?= $(SHARED)/models/stories260K.gguf
PROMPT  ?= Once upon a time
BIN     := bin/s4c

export CGO_ENABLED = 0

.PHONY: all build demo test vet fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/s4c

demo: build
	@if [ ! -f "$(MODEL)" ]; then \
	  echo "No model at $(MODEL)."; \
	  echo "s4c runs Llama-family GGUF files (llama, mistral, qwen2; F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K)."; \
	  echo "Download one from the usual model hubs (e.g. a TinyLlama-1.1B-Chat or Qwen2-0.5B-Instruct GGUF), then:"; \
	  echo "  make demo MODEL=/path/to/model.gguf"; \
	else \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200; \
	fi

test: vet
	$(GO) test ./...

vet:
	$(GO) vet ./...

# Fuzz the GGUF reader (FUZZTIME=10m for a longer run).
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./gguf -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
