// Talks to a running `s4c serve` with the official openai client, streamed
// and not, chat and text completions, and checks every text against what
// `s4c run` printed for the same request (greedy: they must be equal).
// Environment: BASE_URL, MODEL, PROMPT, N, EXPECT_TEXT and EXPECT_CHAT
// (files holding `s4c run`'s output), CHAT_PROMPT.
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const env = (k) => { if (!process.env[k]) throw new Error(`${k} is not set`); return process.env[k]; };
const client = new OpenAI({ baseURL: env('BASE_URL') + '/v1', apiKey: 'none', maxRetries: 0 });
const model = env('MODEL'), n = Number(env('N'));
const expectText = readFileSync(env('EXPECT_TEXT'), 'utf8');
const expectChat = readFileSync(env('EXPECT_CHAT'), 'utf8');
let failed = 0;
const check = (what, got, want) => {
  if (got === want) { console.log(`ok   ${what} (${got.length} chars)`); return; }
  failed++;
  console.log(`FAIL ${what}\n  got:  ${JSON.stringify(got)}\n  want: ${JSON.stringify(want)}`);
};

const models = await client.models.list();
check('models.list', models.data.map((m) => m.id).join(','), model);

const c1 = await client.completions.create({ model, prompt: env('PROMPT'), max_tokens: n, temperature: 0 });
check('completions', c1.choices[0].text, expectText);
if (c1.usage.completion_tokens !== n) { failed++; console.log(`FAIL completions usage ${JSON.stringify(c1.usage)}`); }

let s1 = '';
for await (const chunk of await client.completions.create({ model, prompt: env('PROMPT'), max_tokens: n, temperature: 0, stream: true })) {
  s1 += chunk.choices[0]?.text ?? '';
}
check('completions, streamed', s1, expectText);

const messages = [{ role: 'user', content: env('CHAT_PROMPT') }];
const c2 = await client.chat.completions.create({ model, messages, max_tokens: n, temperature: 0 });
check('chat.completions', c2.choices[0].message.content, expectChat);

let s2 = '', usage = null;
const stream = await client.chat.completions.create({ model, messages, max_tokens: n, temperature: 0, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  s2 += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.usage) usage = chunk.usage;
}
check('chat.completions, streamed', s2, expectChat);
if (!usage || usage.completion_tokens !== n) { failed++; console.log(`FAIL streamed usage ${JSON.stringify(usage)}`); }

try {
  await client.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 4 });
  failed++; console.log('FAIL an unknown model was accepted');
} catch (e) {
  check('unknown model -> 404', String(e.status), '404');
}
try {
  await client.chat.completions.create({ model, messages: [], max_tokens: 4 });
  failed++; console.log('FAIL empty messages were accepted');
} catch (e) {
  check('empty messages -> 400', String(e.status), '400');
}
if (failed) { console.log(`${failed} check(s) failed`); process.exit(1); }
console.log('all checks passed with the openai npm client');
