package speculative_test

import (
	"fmt"
	"log"
	"path/filepath"

	"s4c/engine"
	"s4c/heads"
	"s4c/internal/shared"
	"s4c/sample"
	"s4c/speculative"
)

// Decoding with S^4C from a program: load a model and its heads, then
// generate with a callback per token. The output is exactly plain greedy
// decoding's, produced in fewer passes of the model.
func Example() {
	// The shared story model and the heads trained for it.
	e, err := engine.Load(filepath.Join(shared.Dir(), "models/stories260K.gguf"), 0)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	h, err := heads.Load("../models/stories260K.s4c.gguf", e.Model)
	if err != nil {
		log.Fatal(err)
	}
	const prompt = "Once upon a time"
	fmt.Print(prompt)
	dec := e.Tok.NewDecoder()
	req := engine.Request{
		Prompt:    e.Encode(prompt),
		MaxTokens: 40,
		Sampling:  sample.Params{Temp: 0, TopP: 1, RepeatPenalty: 1},
		OnToken: func(id int32) bool {
			fmt.Print(dec.Next(id))
			return true
		},
	}
	// A fixed tree of 16 draft nodes per pass (0 would choose the size
	// from the measured cost of passes on this machine).
	_, st, err := speculative.Generate(e, h, req, speculative.Options{Budget: 16})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dec.Flush())
	fmt.Println("fewer passes than tokens:", st.Rounds < st.GenTokens)
	// Output:
	// Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.
	// fewer passes than tokens: true
}
