package spec_test

import (
	"fmt"
	"log"

	"s4c/engine"
	"s4c/heads"
	"s4c/sample"
	"s4c/spec"
)

// Decoding with S^4C from a program: load a model and its heads, then
// generate with a callback per token. The output is exactly plain greedy
// decoding's, produced in fewer passes of the model.
func Example() {
	e, err := engine.Load("stories260K.gguf", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	h, err := heads.Load("stories260K.s4c.gguf", e.Model)
	if err != nil {
		log.Fatal(err)
	}
	dec := e.Tok.NewDecoder()
	req := engine.Request{
		Prompt:    e.Encode("Once upon a time"),
		MaxTokens: 64,
		Sampling:  sample.Params{Temp: 0, TopP: 1, RepeatPenalty: 1},
		OnToken: func(id int32) bool {
			fmt.Print(dec.Next(id))
			return true
		},
	}
	_, st, err := spec.Generate(e, h, req, spec.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	fmt.Println(st.Summary())
}
