#!/usr/bin/env bash
# The test command: on a fresh machine, installs the pinned test tools into .tools/ (ignored, reused
# when present), then runs formatting, lints, the dependency checks (cargo deny), every test with the
# local AWS stack (moto) up, and the two template checks. Exits non-zero on the first failure; moto
# is stopped by PID in any case.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools="$root/.tools"

MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.53.3
SAM_CLI_VERSION=1.170.0
CARGO_DENY_VERSION=0.20.2

log() { printf '\n==> %s\n' "$*" >&2; }

# ensure_tool NAME SPEC: a virtualenv at .tools/NAME holding exactly SPEC, its dependencies pinned
# by scripts/constraints/NAME.txt, installed from PyPI once and reused while both are unchanged.
ensure_tool() {
  local name=$1 spec=$2 venv="$tools/$1" constraints="$root/scripts/constraints/$1.txt"
  local stamp
  stamp="$spec $(sha256sum "$constraints" | cut -d' ' -f1)"
  if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$stamp" ]]; then
    return
  fi
  log "installing $spec into .tools/$name"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "$spec" </dev/null
  echo "$stamp" >"$venv/.installed"
}

# ensure_cargo_deny: cargo-deny $CARGO_DENY_VERSION at .tools/cargo-deny, built from crates.io with its
# own lock file once (about 3 minutes on two cores) and reused while `--version` says that version.
ensure_cargo_deny() {
  local bin="$tools/cargo-deny/bin/cargo-deny"
  if [[ -x $bin && "$("$bin" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]; then
    return
  fi
  log "installing cargo-deny $CARGO_DENY_VERSION into .tools/cargo-deny"
  rm -rf "$tools/cargo-deny"
  cargo install --quiet --locked "cargo-deny@$CARGO_DENY_VERSION" --root "$tools/cargo-deny" </dev/null
}

mkdir -p "$tools"
ensure_cargo_deny
ensure_tool moto "moto[server]==$MOTO_VERSION"
ensure_tool cfn "cfn-lint==$CFN_LINT_VERSION"
ensure_tool sam "aws-sam-cli==$SAM_CLI_VERSION"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The operator CLI without the demo (and so without the simulators) must keep building.
log "cargo clippy: qalita-gitlab --no-default-features"
cargo clippy -p qalita-gitlab --no-default-features --locked -- -D warnings

# Licences, banned and duplicate crates, sources (deny.toml), offline: once per target of deny.toml's
# [graph], each filtering the graph to that platform's crates, which the build has fetched (the fetch
# downloads only what is missing). Advisories need the RustSec database, not to be had here (README).
for target in aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu; do
  log "cargo deny $CARGO_DENY_VERSION --target $target: licenses, bans, sources"
  cargo fetch --locked --target "$target" </dev/null
  "$tools/cargo-deny/bin/cargo-deny" --offline --locked --target "$target" check licenses bans sources
done

log "starting moto on a free loopback port"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
moto_log="$tools/moto-server.log"
"$tools/moto/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 </dev/null &
moto_pid=$!
stop_moto() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap stop_moto EXIT
ready=
for _ in $(seq 1 150); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    ready=yes
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { cat "$moto_log" >&2; echo "moto_server exited" >&2; exit 1; }
  sleep 0.2
done
[[ -n $ready ]] || { cat "$moto_log" >&2; echo "moto_server did not answer on 127.0.0.1:$port" >&2; exit 1; }

# Every AWS client of the tests finds the local stack through the standard configuration chain.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export SAM_PYTHON="$tools/sam/bin/python"
unset AWS_PROFILE AWS_SESSION_TOKEN

log "tests (moto at $AWS_ENDPOINT_URL)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
stop_moto
trap - EXIT

log "cfn-lint $CFN_LINT_VERSION"
"$tools/cfn/bin/cfn-lint" template.yaml

log "sam validate --lint"
SAM_CLI_TELEMETRY=0 "$tools/sam/bin/sam" validate --lint --region us-east-1 --template-file template.yaml

log "all checks passed"
