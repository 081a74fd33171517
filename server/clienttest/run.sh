#!/bin/sh
# The real-client test: the official openai npm package (pinned by
# package-lock.json, installed here from the npm registry) against a
# running `s4c serve` on the shared story model, every text checked
# against `s4c run`'s; then the chat page in headless Chromium (installed
# from Debian's packages if missing), checked in the DOM and in a
# screenshot. Run from the repository root: sh server/clienttest/run.sh
set -eu
BIN=${BIN:-bin/s4c}
MODEL=${MODEL:-../shared/models/stories260K.gguf}
HEADS=${HEADS:-models/stories260K.s4c.gguf}
DIR=server/clienttest
if [ ! -f "$MODEL" ]; then
  if [ "${CI:-}" = true ]; then echo "client test: $MODEL not found" >&2; exit 1; fi
  echo "client test skipped: $MODEL not found (expected ../shared beside the repository)"; exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "client test: node and npm are needed" >&2; exit 1; fi
  echo "client test skipped: node and npm not found"; exit 0
fi
(cd $DIR && npm ci --no-audit --no-fund --loglevel=error)
# The page test drives Debian's Chromium.
if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package) for the chat page test"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
TMP=$(mktemp -d)
N=48
PROMPT="Once upon a time"
CHAT_PROMPT="Tell me a story about a dog."
# What s4c run prints (plain greedy decoding): the prompt, then its
# continuation, then a newline; with --chat the reply and a newline.
$BIN run -m "$MODEL" --spec none -p "$PROMPT" -n $N 2>/dev/null > "$TMP/run.txt"
$BIN run -m "$MODEL" --spec none --chat -p "$CHAT_PROMPT" -n $N 2>/dev/null > "$TMP/run-chat.txt"
cut() { # file, prefix to drop, output
  node -e 'const fs=require("fs"); let t=fs.readFileSync(process.argv[1],"utf8"); const p=process.argv[2];
    if(!t.startsWith(p)||!t.endsWith("\n")) { console.error("unexpected s4c run output: "+JSON.stringify(t)); process.exit(1); }
    fs.writeFileSync(process.argv[3], t.slice(p.length, -1));' "$1" "$2" "$3"
}
cut "$TMP/run.txt" "$PROMPT" "$TMP/expect-text.txt"
cut "$TMP/run-chat.txt" "" "$TMP/expect-chat.txt"
# The server, speculating on every pass (--budget: the automatic budget
# measures that speculation cannot pay on a model this small).
$BIN serve -m "$MODEL" --heads "$HEADS" --addr 127.0.0.1:0 --budget 6 2> "$TMP/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for i in $(seq 100); do
  ADDR=$(sed -n 's|.*on http://\([0-9.:]*\) .*|\1|p' "$TMP/serve.log")
  [ -n "$ADDR" ] && node -e "fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "http://$ADDR/health" && break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$TMP/serve.log"; exit 1; }
BASE_URL="http://$ADDR" MODEL=stories260K PROMPT="$PROMPT" CHAT_PROMPT="$CHAT_PROMPT" N=$N \
  EXPECT_TEXT="$TMP/expect-text.txt" EXPECT_CHAT="$TMP/expect-chat.txt" node $DIR/test.mjs
SHOT=${SHOT:-$TMP/page.png} BASE_URL="http://$ADDR" node $DIR/page.mjs
kill -TERM $PID
wait $PID
echo "s4c serve stopped on SIGTERM with exit code 0"
sed 's/^/  log: /' "$TMP/serve.log"
