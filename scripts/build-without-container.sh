#!/usr/bin/env bash
# The Dockerfile's steps, run where no container engine is available (CI says which it ran): a clean
# install and build in a scratch copy, the development packages pruned, the runtime assembled from
# the same files the image's second stage copies, then started as the image starts it, with the
# production config example and stand-in secrets, until the image's health check passes; SIGTERM
# must then stop it cleanly (exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "-- stage 1 (build) in $work/build"
mkdir -p "$work/build/scripts" "$work/runtime/config"
cp package.json package-lock.json tsconfig.json tsconfig.build.json "$work/build/"
cp scripts/build.mjs "$work/build/scripts/"
cp -r src "$work/build/src"
(cd "$work/build" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent && npm prune --omit=dev --no-audit --no-fund --loglevel=error)

echo "-- stage 2 (runtime) in $work/runtime"
cp -r "$work/build/package.json" "$work/build/node_modules" "$work/build/dist" "$work/runtime/"
cp -r bin "$work/runtime/bin"
cp config/pgb.production.example.json "$work/runtime/config/pgb.json"
echo "runtime size: $(du -sh "$work/runtime" | cut -f1) (node_modules $(du -sh "$work/runtime/node_modules" | cut -f1))"

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
cd "$work/runtime"
env -i PATH="$PATH" NODE_ENV=production HOST=127.0.0.1 PORT="$port" PGB_CONFIG=config/pgb.json PGB_DATA_DIR="$work/data" LOG_LEVEL=warn \
  PGB_PUBLIC_URL="http://127.0.0.1:$port" SHOP_API_KEY=ci-key SHOP_NOTIFY_URL=https://shop.example.com/pg/notify \
  SHOP_NOTIFY_SECRET=whsec_c2hvcC1ub3RpZnktc2VjcmV0LTEyMzQ= SHOP_ORIGIN=https://shop.example.com \
  SHOP_TOSS_SECRET_KEY=test_sk_ci SHOP_TOSS_CLIENT_KEY=test_ck_ci SHOP_STRIPE_SECRET_KEY=sk_test_ci SHOP_STRIPE_WEBHOOK_SECRET=whsec_ci \
  node dist/main.js &
pid=$!
healthy=""
for _ in $(seq 1 100); do
  if PORT="$port" node -e 'fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'; then healthy=yes; break; fi
  sleep 0.2
done
[ -n "$healthy" ] || { echo "health check never passed"; exit 1; }
echo "health check passed; /openapi.json: $(node -e "fetch('http://127.0.0.1:$port/openapi.json').then(r=>r.json()).then(d=>console.log(d.openapi))")"
node bin/pgb.mjs --help >/dev/null
kill -TERM "$pid"
wait "$pid"; code=$?
pid=""
[ "$code" -eq 0 ] || { echo "SIGTERM: exit $code"; exit 1; }
echo "SIGTERM: stopped cleanly"
