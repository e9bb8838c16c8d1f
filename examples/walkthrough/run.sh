#!/usr/bin/env bash
# The README's MACHINES walkthrough on one machine, command for command: certificates, the gateway
# simulator, two children through discordoo-child, the parent through `discordoo parent --config`,
# a status check, then Ctrl-C. Run it in your bot's folder after
# `npm install discordoo-sharding discord.js`; it writes tls/, parent.json and logs/ there and uses
# ports 8787, 8379, 8380 and 9100 on 127.0.0.1.
# test/integration/walkthrough.test.ts runs it (in a network namespace of its own) and checks that
# every command below is the README's.
set -euo pipefail
# Job control: background commands then take Ctrl-C (SIGINT) like commands in a terminal do.
set -m

mkdir -p logs
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- -"$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# wait_for FILE TEXT SECONDS: until TEXT shows in FILE (a log), or fail with the log.
wait_for() {
  local end=$((SECONDS + $3))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= end)); then
      echo "walkthrough: no \"$2\" in $1 within $3 s; it says:" >&2
      cat "$1" >&2
      exit 1
    fi
    sleep 0.2
  done
}

echo "== 1. certificates"
mkdir -p tls
for name in parent child-1 child-2; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -keyout tls/$name.key -out tls/$name.pem -subj "/CN=$name" \
    -addext "extendedKeyUsage=serverAuth,clientAuth"
done
chmod 600 tls/*.key

echo "== 2. the gateway simulator"
npx -p discordoo-sharding discordoo simulator --port 8787 --token walkthrough-token --max-concurrency 2 --window-ms 1000 --guilds 40 > logs/simulator.log 2>&1 &
pids+=($!)
wait_for logs/simulator.log 'listening' 60

echo "== 3. two children"
export DISCORD_TOKEN=walkthrough-token
export DISCORD_API_BASE=http://127.0.0.1:8787/api
npx -p discordoo-sharding discordoo-child --host 127.0.0.1 --port 8379 --file node_modules/discordoo-sharding/examples/bots/discordjs-bot.mjs \
  --cert tls/child-1.pem --key tls/child-1.key --trust tls/parent.pem > logs/child-1.log 2>&1 &
pids+=($!)
npx -p discordoo-sharding discordoo-child --host 127.0.0.1 --port 8380 --file node_modules/discordoo-sharding/examples/bots/discordjs-bot.mjs \
  --cert tls/child-2.pem --key tls/child-2.key --trust tls/parent.pem > logs/child-2.log 2>&1 &
pids+=($!)
wait_for logs/child-1.log 'listening on 127.0.0.1:8379' 60
wait_for logs/child-2.log 'listening on 127.0.0.1:8380' 60

echo "== 4. the parent's parent.json"
cat > parent.json <<'EOF'
{
  "api": "http://127.0.0.1:8787/api",
  "identify": { "windowMs": 1000 },
  "tls": {
    "public": "tls/parent.pem",
    "private": "tls/parent.key",
    "trustedConnections": ["tls/child-1.pem", "tls/child-2.pem"]
  },
  "points": [
    { "host": "127.0.0.1", "port": 8379, "childManagerOptions": { "mode": "processes", "shards": { "from": 0, "to": 3 }, "shardsPerInstance": 4 } },
    { "host": "127.0.0.1", "port": 8380, "childManagerOptions": { "mode": "workers", "shards": { "from": 4, "to": 7 }, "shardsPerInstance": 4 } }
  ],
  "metrics": { "port": 9100 }
}
EOF

echo "== 5. the parent"
npx -p discordoo-sharding discordoo parent --config parent.json > logs/parent.log 2>&1 &
parent=$!
pids+=($parent)
wait_for logs/parent.log 'all 8 shards ready on 2 machines' 120
cat logs/parent.log

echo "== 6. watch it"
npx -p discordoo-sharding discordoo status --url http://127.0.0.1:9100
curl -fsS http://127.0.0.1:9100/healthz
curl -fsS http://127.0.0.1:9100/metrics | grep '^discordoo_shards'

echo "== 7. Ctrl-C on the parent, then on each child"
# Ctrl-C in a terminal signals the whole foreground group (npx and the node process under it): so
# does `kill -INT -- -PID` here, each background job being a group of its own (set -m).
# npx itself then exits with 130 (interrupted), whatever the command under it did: the logs tell.
kill -INT -- -"$parent"
wait "$parent" || true
tail -n 4 logs/parent.log
grep -F 'stopped: every shard on every child is stopped' logs/parent.log
kill -INT -- -"${pids[1]}"
kill -INT -- -"${pids[2]}"
wait "${pids[1]}" "${pids[2]}" || true
grep -F 'SIGINT: stopping the shards' logs/child-1.log logs/child-2.log
echo "walkthrough: OK"
