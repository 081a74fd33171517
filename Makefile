# s4c — two commands do all set-up on a fresh machine:
#   make demo   build and run the default model (../shared/models/stories260K.gguf)
#   make test   run the test suite
GO      ?= go
SHARED  ?= ../shared
MODEL   ?= $(SHARED)/models/stories260K.gguf
PROMPT  ?= Once upon a time
BIN     := bin/s4c

export CGO_ENABLED = 0

.PHONY: all build demo demo-big test vet fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/s4c

demo: build
	@if [ ! -f "$(MODEL)" ]; then \
	  echo "No model at $(MODEL)."; \
	  echo "s4c runs Llama-family GGUF files (llama, mistral, qwen2; F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K)."; \
	  echo "Download one from the usual model hubs (e.g. a TinyLlama-1.1B-Chat or Qwen2-0.5B-Instruct GGUF), then:"; \
	  echo "  make demo MODEL=/path/to/model.gguf"; \
	elif [ "$(MODEL)" = "$(SHARED)/models/stories260K.gguf" ]; then \
	  echo "== plain decoding and S^4C (trained heads models/stories260K.s4c.gguf), same process:"; \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200 --heads models/stories260K.s4c.gguf --compare; \
	  echo; echo "== the same heads with a fixed 24-node draft tree (tau = tokens per verification pass):"; \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200 --heads models/stories260K.s4c.gguf --budget 24 2>&1 >/dev/null | tail -2; \
	  echo; echo "This 260K-parameter model is too small to be memory-bound, so S^4C falls back to plain steps."; \
	  echo "'make demo-big' runs its exact 1.1B-parameter twin, where speculation pays."; \
	else \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200 --compare; \
	fi

# The shared story model inflated to the TinyLlama-1.1B shape (same outputs,
# realistic cost; 1.8 GiB in $(BIG_DIR)), with its heads inflated likewise.
BIG_DIR ?= /tmp/s4c-demo
BIG     := $(BIG_DIR)/stories-1.1b-f16.gguf
demo-big: build
	@mkdir -p $(BIG_DIR)
	@[ -f $(BIG) ] || $(BIN) model inflate --from "$(MODEL)" --heads models/stories260K.s4c.gguf --shape tinyllama-1.1b --type f16 -o $(BIG)
	@[ $(BIG:.gguf=.s4c.gguf) -nt models/stories260K.s4c.gguf ] || $(BIN) heads inflate --from "$(MODEL)" --heads models/stories260K.s4c.gguf -m $(BIG)
	$(BIN) run -m $(BIG) -p "$(PROMPT)" -n 128 --compare

test: vet
	$(GO) test ./...
	# The model again on the lower SIMD levels: their kernels and the
	# portable code must give the same reference outputs.
	S4C_KERNEL=avx2 $(GO) test -count=1 ./model
	S4C_KERNEL=generic $(GO) test -count=1 ./model

vet:
	$(GO) vet ./...

# Fuzz the GGUF reader (FUZZTIME=10m for a longer run).
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./gguf -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
