package chat

import "testing"

func TestRender(t *testing.T) {
	msgs := []Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}}
	want := map[string]string{
		ChatML: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
		Llama3: "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
		Zephyr: "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\n2+2?</s>\n<|assistant|>\n",
		Llama2: "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]",
		Gemma:  "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n",
	}
	for tmpl, w := range want {
		got, err := Render(tmpl, msgs)
		if err != nil || got != w {
			t.Errorf("%s:\n got %q\nwant %q (%v)", tmpl, got, w, err)
		}
	}
	if _, err := Render(ChatML, []Message{{"bot", "x"}}); err == nil {
		t.Error("bad role accepted")
	}
}

func TestDetect(t *testing.T) {
	none := func(string) bool { return false }
	cases := map[string]string{
		"{% for m in messages %}<|im_start|>{{ m.role }}":                     ChatML,
		"<|start_header_id|>":                                                 Llama3,
		"{{ '<|user|>\n' + message['content'] + eos_token }}<|assistant|>":    Zephyr,
		"{{'<|user|>' + '\n' + message['content'] + '<|end|>'}}<|assistant|>": Phi3,
		"{{ bos_token + '[INST] ' + content + ' [/INST]' }}":                  Llama2,
		"{{ '<start_of_turn>' + role + '\n' + message['content'] | trim }}":   Gemma,
		"": Raw,
	}
	for j, want := range cases {
		if got := Detect(j, none); got != want {
			t.Errorf("%q: got %s want %s", j, got, want)
		}
	}
}
