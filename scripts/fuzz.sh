#!/usr/bin/env bash
# The fuzz run (not part of scripts/test.sh): installs cargo-fuzz, pinned, into .tools/cargo-fuzz
# (ignored, reused when present), then runs each target of fuzz/ for a bounded time on the nightly
# toolchain, starting from the corpus kept in fuzz/corpus/<target>/ (new finds land there too).
# Exits non-zero as soon as a target crashes; libFuzzer leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(webhook_ingest qalita_decode config_document queue_envelope)
fi

log() { printf '\n==> %s\n' "$*" >&2; }

tools="$root/.tools/cargo-fuzz"
stamp="$tools/.installed"
if [[ ! -x "$tools/bin/cargo-fuzz" || "$(cat "$stamp" 2>/dev/null)" != "$CARGO_FUZZ_VERSION" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz"
  cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$tools" --force
  echo "$CARGO_FUZZ_VERSION" >"$stamp"
fi
export PATH="$tools/bin:$PATH"

for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  log "cargo fuzz run $target for ${seconds}s"
  # -timeout: an input that takes a second is a finding (the parsers are linear and a 6 MiB body
  # takes milliseconds). -rss_limit_mb: the body cap is 25 MiB, well inside.
  cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
log "no crash in ${#targets[@]} targets, ${seconds}s each"
