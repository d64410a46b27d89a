#!/usr/bin/env bash
# webclip's one entry point.
#
#   ./build.sh            build the native CLI (release)
#   ./build.sh run [ARGS] build, then run `webclip ARGS` (no ARGS: the offline demo below)
#   ./build.sh test       everything CI checks: fmt, clippy (host + wasm32), all tests
#   ./build.sh bench      CPU benchmark of ViT-B/32 (webclip, then PyTorch if ~/.cache/refenv exists)
#   ./build.sh fixtures   regenerate tests/fixtures with the reference implementation
#
# One target dir for everything ($CARGO_TARGET_DIR, default ~/.cache/webclip/target) and one
# profile (release: tests, CLI and benchmarks share the same artifacts), so a cold run builds
# each crate once per target.
set -euo pipefail
cd "$(dirname "$0")"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/webclip/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
BIN="$CARGO_TARGET_DIR/release/webclip"

log() { printf '\n== %s\n' "$*" >&2; }

# System packages the tests need: Mesa's lavapipe (a Vulkan driver on the CPU) so the wgpu
# backend runs real shaders without a GPU. Installed only when missing and when we can.
ensure_system_deps() {
    if ! command -v cargo >/dev/null; then
        echo "cargo is required (https://rustup.rs)" >&2
        exit 1
    fi
    local missing=()
    for pkg in mesa-vulkan-drivers libvulkan1; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; }; then
            log "installing ${missing[*]}"
            $sudo apt-get update -qq >/dev/null || true
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "warning: ${missing[*]} not installed and apt-get unavailable; the wgpu tests need a Vulkan or GL driver" >&2
        fi
    fi
    rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
}

build() {
    log "cargo build --release (target dir $CARGO_TARGET_DIR)"
    cargo build --release --locked -p webclip-cli
}

demo() {
    # Offline: the bundled test checkpoint and photos. Its weights are random (it exists to
    # prove parity with transformers), so the probabilities say nothing about the photos; give
    # --model a real checkpoint folder (e.g. openai/clip-vit-base-patch32) for real answers.
    local fx=tests/fixtures
    log "webclip classify (bundled random-weight test checkpoint; see README for a real model)"
    "$BIN" classify --model "$fx/models/tiny-legacy" --templates cifar \
        --label cat --label astronaut --label "cup of coffee" --label rocket --label horse \
        "$fx/images/chelsea.png" "$fx/images/astronaut.png" "$fx/images/coffee.png" "$fx/images/rocket.jpg"
}

run_tests() {
    ensure_system_deps
    log "cargo fmt --check"
    cargo fmt --all -- --check
    log "cargo clippy (host)"
    cargo clippy --release --locked --workspace --all-targets -- -D warnings
    log "cargo clippy (wasm32-unknown-unknown, core crate: no wasm-hostile dependency may creep in)"
    cargo clippy --release --locked -p webclip --target wasm32-unknown-unknown -- -D warnings
    log "cargo test --release"
    cargo test --release --locked --workspace
}

bench() {
    build
    log "webclip bench --device cpu"
    "$BIN" --device cpu bench "$@"
    if [ -x "$HOME/.cache/refenv/bin/python" ]; then
        log "PyTorch (tests/reference/bench_torch.py)"
        "$HOME/.cache/refenv/bin/python" tests/reference/bench_torch.py
    else
        echo "(PyTorch baseline skipped: create ~/.cache/refenv from tests/reference/requirements.txt)" >&2
    fi
}

fixtures() {
    local py="$HOME/.cache/refenv/bin/python"
    if [ ! -x "$py" ]; then
        log "creating ~/.cache/refenv (torch, transformers, Pillow, open_clip: several GB)"
        python3 -m venv "$HOME/.cache/refenv"
        "$HOME/.cache/refenv/bin/pip" install -q -r tests/reference/requirements.txt
    fi
    "$py" tests/reference/generate.py
}

cmd="${1:-build}"
[ $# -gt 0 ] && shift
case "$cmd" in
    build) build ;;
    run)
        build
        if [ $# -gt 0 ]; then exec "$BIN" "$@"; else demo; fi
        ;;
    test) run_tests ;;
    bench) bench "$@" ;;
    fixtures) fixtures ;;
    *)
        echo "usage: ./build.sh [build|run [ARGS]|test|bench|fixtures]" >&2
        exit 2
        ;;
esac
