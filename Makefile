# s4c — two commands do all set-up on a fresh machine:
#   make demo   build and run the default model (../shared/models/stories260K.gguf)
#   make test   run the test suite
GO      ?= go
SHARED  ?= ../shared
MODEL   ?= $(SHARED)/models/stories260K.gguf
PROMPT  ?= Once upon a time
BIN     := bin/s4c

export CGO_ENABLED = 0

.PHONY: all build demo demo-big test vet fuzz load clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/s4c

# The default demo: a fast check on the shared 260K-parameter story model,
# then the point of S^4C on its exact 1.1B-parameter twin (the same model
# inflated to TinyLlama-1.1B's shape: same outputs, a real model's cost;
# written once, 1.8 GiB, to $(BIG_DIR), about 15-30 s).
BIG_DIR ?= /tmp/s4c-demo
BIG     := $(BIG_DIR)/stories-1.1b-f16.gguf

demo: build
	@if [ ! -f "$(MODEL)" ]; then \
	  echo "No model at $(MODEL)."; \
	  echo "s4c runs Llama-family GGUF files (llama, mistral, qwen2, qwen3, phi3, gemma2; F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q2_K/Q3_K/Q4_K/Q5_K/Q6_K/IQ4_NL/IQ4_XS)."; \
	  echo "Download one from the usual model hubs (e.g. a TinyLlama-1.1B-Chat or Qwen2-0.5B-Instruct GGUF), then:"; \
	  echo "  make demo MODEL=/path/to/model.gguf"; \
	  exit 1; \
	elif [ "$(MODEL)" = "$(SHARED)/models/stories260K.gguf" ]; then \
	  echo "== 1. Fast check: the 260K-parameter story model, plain decoding and S^4C in one process."; \
	  echo "   S^4C first measures whether speculation can pay on a model: on one this small a pass costs"; \
	  echo "   about what drafting does, so it decodes plainly (the output is identical either way)."; \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200 --heads models/stories260K.s4c.gguf --compare; \
	  echo; \
	  $(MAKE) --no-print-directory demo-big; \
	else \
	  $(BIN) run -m "$(MODEL)" -p "$(PROMPT)" -n 200 --compare; \
	fi

# The story model's exact 1.1B-parameter twin, with its heads inflated
# likewise, decoded plainly and with S^4C.
demo-big: build
	@echo "== 2. The point: the same story model inflated to TinyLlama-1.1B's shape (1.1B parameters, F16)."
	@echo "   It computes exactly the small model's function at a real 1.1B model's cost, where decoding"
	@echo "   is bound by memory bandwidth and one pass can verify a whole draft tree."
	@mkdir -p $(BIG_DIR)
	@[ -f $(BIG) ] && echo "   (the twin is already at $(BIG))" || $(BIN) model inflate --from "$(MODEL)" --heads models/stories260K.s4c.gguf --shape tinyllama-1.1b --type f16 -o $(BIG)
	@[ $(BIG:.gguf=.s4c.gguf) -nt models/stories260K.s4c.gguf ] || $(BIN) heads inflate --from "$(MODEL)" --heads models/stories260K.s4c.gguf -m $(BIG)
	$(BIN) run -m $(BIG) -p "$(PROMPT)" -n 128 --compare

test: vet build
	$(GO) test ./...
	# The server with real clients: the openai npm package and the chat
	# page in headless Chromium (both installed by the script).
	sh server/clienttest/run.sh
	# The model again on the lower SIMD levels: their kernels and the
	# portable code must give the same reference outputs.
	S4C_KERNEL=avx2 $(GO) test -count=1 ./model
	S4C_KERNEL=generic $(GO) test -count=1 ./model

vet:
	$(GO) vet ./...

# Fuzz every reader of outside input, FUZZTIME each (FUZZTIME=10m for a
# longer run): the GGUF reader, vocabularies from GGUF metadata, chat
# templates, heads files, heads training data, prompt files.
FUZZTIME ?= 2m
FUZZ_TARGETS := ./gguf:FuzzParse ./tokenizer:FuzzFromGGUF ./chat:FuzzRender ./heads:FuzzLoad ./heads:FuzzOpenDataset ./cmd/s4c:FuzzReadPrompts
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $$t"; \
	  $(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# The server under load: 64 streaming clients, 512 requests on loopback;
# every text checked, goroutines and heap back where they started.
load:
	$(GO) test ./server -run '^TestLoad$$' -load -count=1 -v

clean:
	rm -rf bin
