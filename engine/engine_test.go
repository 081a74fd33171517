package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"s4c/chat"
	"s4c/internal/shared"
	"s4c/sample"
)

func load(t *testing.T) *Engine {
	e, err := Load(shared.Path(t, "models/stories260K.gguf"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func greedyParams() sample.Params { return sample.Params{TopP: 1, RepeatPenalty: 1} }

func TestGenerateGreedyText(t *testing.T) {
	e := load(t)
	ids, st, err := e.GeneratePlain(Request{Prompt: e.Encode("Once upon a time"), MaxTokens: 20, Sampling: greedyParams()})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Tok.Decode(ids); !strings.HasPrefix(got, ", there was a little girl named Lily.") {
		t.Fatalf("got %q", got)
	}
	if st.GenTokens != 20 || st.StopReason != "length" {
		t.Fatalf("stats %+v", st)
	}
}

func TestPromptTooLong(t *testing.T) {
	e := load(t)
	long := strings.Repeat("the cat sat on the mat. ", 600)
	_, _, err := e.GeneratePlain(Request{Prompt: e.Encode(long), MaxTokens: 5, Sampling: greedyParams()})
	if !errors.Is(err, ErrPromptTooLong) || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("got %v", err)
	}
}

func TestSeededSamplingRepeats(t *testing.T) {
	e := load(t)
	p := sample.Defaults()
	p.Seed = 7
	a, _, _ := e.GeneratePlain(Request{Prompt: e.Encode("Tom"), MaxTokens: 30, Sampling: p})
	b, _, _ := e.GeneratePlain(Request{Prompt: e.Encode("Tom"), MaxTokens: 30, Sampling: p})
	if e.Tok.Decode(a) != e.Tok.Decode(b) {
		t.Fatal("same seed, different text")
	}
}

func TestChatPromptRaw(t *testing.T) {
	e := load(t) // the story model has no chat template: contents are joined
	p, err := e.ChatPrompt([]chat.Message{{Role: "user", Content: "Once upon a time"}})
	if err != nil || p != "Once upon a time" {
		t.Fatalf("%q %v", p, err)
	}
}

// TestPromptSpecialText: "</s>" typed in a prompt or a chat message is text,
// not the end-of-sequence token (EncodeSpecial parses it when asked), and
// EncodeChat equals Encode of the rendered text where the content is plain.
func TestPromptSpecialText(t *testing.T) {
	e := load(t)
	eos := e.Tok.EOS
	contains := func(ids []int32, id int32) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
	if ids := e.Encode("The end.</s>Once"); contains(ids, eos) {
		t.Errorf("Encode parsed </s>: %v", ids)
	}
	if ids := e.EncodeSpecial("The end.</s>Once"); !contains(ids, eos) {
		t.Errorf("EncodeSpecial did not parse </s>: %v", ids)
	}
	ids, err := e.EncodeChat([]chat.Message{{Role: "user", Content: "The end.</s>Once"}})
	if err != nil || contains(ids, eos) {
		t.Errorf("EncodeChat parsed </s> in a message: %v %v", ids, err)
	}
	ids, err = e.EncodeChat([]chat.Message{{Role: "user", Content: "Once upon a time"}})
	if want := e.Encode("Once upon a time"); err != nil || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("EncodeChat %v, want %v (%v)", ids, want, err)
	}
}
