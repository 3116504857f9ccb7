#!/usr/bin/env bash
# The fuzz run (not part of scripts/test.sh): installs cargo-fuzz, pinned, into .tools/cargo-fuzz
# (ignored, reused when present), seeds the corpus from the repo's fixtures, then runs each target
# of fuzz/ for a bounded time on the nightly toolchain, from the corpus kept in fuzz/corpus/<target>/
# (new finds land there). Exits non-zero at the first crash: libFuzzer prints the input's path
# (fuzz/artifacts/<target>/crash-…) and `cargo +nightly fuzz run <target> <that path>` replays it.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#   scripts/fuzz.sh seed        only writes the seeds (what a clean clone's corpus lacks)
#
# FUZZ_SANITIZER=address turns AddressSanitizer on; by default none: the code under test is safe
# Rust (panics, overflow and debug assertions are what it finds), and builds and runs faster without.
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
sanitizer=${FUZZ_SANITIZER:-none}

log() { printf '\n==> %s\n' "$*" >&2; }

tools="$root/.tools/cargo-fuzz"
if [[ $seconds != seed ]] && [[ ! -x "$tools/bin/cargo-fuzz" || "$(cat "$tools/.installed" 2>/dev/null)" != "$CARGO_FUZZ_VERSION" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz"
  cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$tools" --force
  echo "$CARGO_FUZZ_VERSION" >"$tools/.installed"
fi
export PATH="$tools/bin:$PATH"
# The fuzz workspace builds in its own target folder (fuzz/target), not a shared one.
unset CARGO_TARGET_DIR

# seed TARGET NAME: writes fuzz/corpus/TARGET/seed-NAME from standard input unless it is there.
seed() {
  local file="fuzz/corpus/$1/seed-$2"
  mkdir -p "fuzz/corpus/$1"
  if [[ -f $file ]]; then cat >/dev/null; else cat >"$file"; fi
}

# A fixture's X-Gitlab-Event header, as fixtures/gitlab/README.md and constructed/README.md say.
gitlab_event() {
  case $(basename "$1" .json) in
    *2016_test) echo "Push Hook" ;;
    confidential_issue | confidential_work_item*) echo "Confidential Issue Hook" ;;
    internal_note* | note_on_confidential*) echo "Confidential Note Hook" ;;
    note_*) echo "Note Hook" ;;
    *) echo "Issue Hook" ;;
  esac
}

log "seeding fuzz/corpus from fixtures/ and the README"
for fixture in fixtures/gitlab/*.json fixtures/gitlab/constructed/*.json; do
  name=$(basename "$fixture" .json)
  event=$(gitlab_event "$fixture")
  { printf 'X-Gitlab-Event: %s\nX-Gitlab-Token: fuzz-token\nX-Gitlab-Event-UUID: 6a0bc4ef-2b0b-4a0a-9d8e-5a3b0a6e4c11\n\n' "$event"
    cat "$fixture"; } | seed webhook_ingest "$name"
  # A queued message as the worker reads it: the whole delivery as the payload reads the same.
  python3 - "$event" "$fixture" <<'PY' | seed queue_envelope "$name"
import json, sys
kind, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    payload = json.load(f)
print(json.dumps({"v": 1, "source": "gitlab", "kind": kind, "received_at": "2026-11-24T16:42:00Z",
                  "key": "seed", "delivery": {"event": kind}, "payload": payload}, separators=(",", ":")))
PY
done
printf 'X-Qalita-Event: issue.updated\nAuthorization: Bearer fuzz-token\n\n{"event": "issue.updated", "issue": {"id": 4821}}' |
  seed webhook_ingest qalita_issue_updated
for fixture in fixtures/qalita/*.json; do
  name=$(basename "$fixture" .json)
  { printf 'status: 200\ncontent-type: application/json\n\n'; cat "$fixture"; } | seed qalita_decode "$name"
  case $name in event_*) seed queue_envelope "qalita_$name" <"$fixture" ;; esac
done
{ printf 'status: 200\n\n{"data": ['; cat fixtures/qalita/issue.json; printf '], "total": 1}'; } | seed qalita_decode page
printf 'status: 204\n\n' | seed qalita_decode no_content
# The configuration document of the README (its ```toml block).
awk '/^```toml$/ {inside = 1; next} /^```$/ {inside = 0} inside' README.md | seed config_document readme

if [[ $seconds == seed ]]; then
  exit 0
fi

failed=()
for target in "${targets[@]}"; do
  log "cargo fuzz run $target for ${seconds}s (sanitizer: $sanitizer)"
  # -timeout: an input that takes seconds is a finding (a 6 MiB body takes milliseconds);
  # -rss_limit_mb: the webhook's body cap is 25 MiB, far inside.
  if ! cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    failed+=("$target")
    break
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  log "crash in ${failed[*]}: the input is in fuzz/artifacts/${failed[0]}/"
  exit 1
fi
log "no crash in ${#targets[@]} targets, ${seconds}s each"
