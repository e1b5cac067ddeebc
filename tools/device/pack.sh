#!/usr/bin/env bash
# Packs into .device/ (ignored by git) what tools/device/scaling.sh needs on a
# device machine, which has no Node.js and no network: this machine's node
# binary, the production node_modules and the built dist/, xz-compressed to fit
# the 64 MiB a run may carry. Then: run with carry [".device"] and the command
# `bash tools/device/scaling.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
rm -rf .device
mkdir -p .device
node_bin=$(readlink -f "$(command -v node)")
tar -C "$(dirname "$node_bin")" -cJf .device/node.tar.xz "$(basename "$node_bin")"
modules=$(mktemp -d)
cp package.json package-lock.json "$modules"
(cd "$modules" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
tar -C "$modules" -cJf .device/node_modules.tar.xz node_modules
rm -rf "$modules"
tar -cJf .device/dist.tar.xz dist
du -sh .device/*
