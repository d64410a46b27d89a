#!/usr/bin/env bash
# webclip's one entry point.
#
#   ./build.sh            build everything: the native CLI and the browser build (wasm, pkg/, www/)
#   ./build.sh run        build, then serve the web app (www/) on http://127.0.0.1:8080 with the
#                         bundled shapes model (offline). PORT=… picks another port.
#   ./build.sh serve      the same without rebuilding
#   ./build.sh cli [ARGS] build the CLI, then run `webclip ARGS` (no ARGS: an offline CLI demo)
#   ./build.sh web        only the browser build
#   ./build.sh test       everything CI checks: fmt, clippy (host + wasm32), all Rust tests, the
#                         browser tests in headless Chromium
#   ./build.sh bench      CPU benchmark of ViT-B/32 (webclip, then PyTorch if ~/.cache/refenv exists)
#   ./build.sh bench-web  browser benchmark against onnxruntime-web (tests/bench)
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
WASM_OUT="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/webclip_wasm.wasm"

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

# The browser build needs wasm-bindgen-cli at exactly the lockfile's wasm-bindgen version (the
# generated JS glue must match the library), Node/npm (the package build, wasm-opt from npm
# `binaryen` — Debian's binaryen 108 breaks this module's externref table — and the browser
# tests) and, for tests, Debian's chromium. Each is installed only when
# missing or at the wrong version.
ensure_web_tools() {
    local want have
    want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
    have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
    if [ "$have" != "$want" ]; then
        log "cargo install wasm-bindgen-cli $want (about 6 minutes, once)"
        cargo install --quiet wasm-bindgen-cli --version "$want"
    fi
    local missing=()
    command -v node >/dev/null || missing+=(nodejs npm)
    if [ "${1:-}" = "browser" ] && ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then missing+=(chromium); fi
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        log "installing ${missing[*]}"
        $sudo apt-get update -qq >/dev/null || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# npm ci only when package-lock.json changed since the last install.
npm_ci() {
    local dir=$1 stamp="$1/node_modules/.webclip-lock"
    if ! [ -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
        log "npm ci ($dir)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$dir/package-lock.json" "$stamp"
    fi
}

# wasm (profile `wasm` in Cargo.toml, +simd128 from .cargo/config.toml) → wasm-bindgen glue in pkg/wasm → wasm-opt
# (skipped when the module is unchanged) → TypeScript in pkg/dist → a copy of the package in
# www/vendor/webclip (the page imports it from there).
build_web() {
    ensure_web_tools "${1:-}"
    log "cargo build --profile wasm --target wasm32-unknown-unknown -p webclip-wasm"
    cargo build --profile wasm --locked -p webclip-wasm --target wasm32-unknown-unknown
    # The stamp (which wasm went through wasm-bindgen + wasm-opt) lives with this checkout's
    # wasm-opt in pkg/node_modules, not in pkg/wasm, which is published.
    local sum stamp=pkg/node_modules/.webclip-wasm-source
    npm_ci pkg
    sum=$(sha256sum "$WASM_OUT" | cut -d' ' -f1)
    if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ] || ! [ -f pkg/wasm/webclip_wasm_bg.wasm ]; then
        log "wasm-bindgen + wasm-opt ($(du -m "$WASM_OUT" | cut -f1) MB in)"
        rm -rf pkg/wasm
        wasm-bindgen --target web --out-dir pkg/wasm "$WASM_OUT"
        # The glue's .d.ts declares `[Symbol.dispose]()` (lib ESNext): drop it so that consumers
        # type-check with lib ES2022 and no skipLibCheck (the package never disposes with `using`;
        # tests/vite checks a strict consumer).
        sed -i '/^ *\[Symbol\.dispose\](): void;$/d' pkg/wasm/webclip_wasm.d.ts
        pkg/node_modules/.bin/wasm-opt -O3 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
            --enable-sign-ext --enable-mutable-globals --enable-simd --enable-reference-types \
            pkg/wasm/webclip_wasm_bg.wasm -o pkg/wasm/webclip_wasm_bg.opt.wasm
        mv pkg/wasm/webclip_wasm_bg.opt.wasm pkg/wasm/webclip_wasm_bg.wasm
        echo "$sum" >"$stamp"
        printf 'pkg/wasm/webclip_wasm_bg.wasm: %s bytes, %s gzipped\n' \
            "$(stat -c %s pkg/wasm/webclip_wasm_bg.wasm)" "$(gzip -9 -c pkg/wasm/webclip_wasm_bg.wasm | wc -c)" >&2
    fi
    log "npm run build (pkg/)"
    (cd pkg && npm run --silent build)
    rm -rf www/vendor/webclip
    mkdir -p www/vendor/webclip
    cp -r pkg/dist pkg/wasm pkg/package.json www/vendor/webclip/
}

serve() {
    log "serving www/ (Ctrl-C stops)"
    exec node www/serve.mjs "${PORT:-8080}"
}

demo() {
    # Offline: the bundled shapes model (www/models/shapes, trained by `webclip train-shapes`) on
    # shapes drawn with Pillow — another renderer than the one it was trained on. Purple star and
    # yellow triangle are combinations it never saw in training.
    local fx=tests/fixtures/shapes_pil
    log "webclip classify (bundled shapes model)"
    "$BIN" classify --model www/models/shapes \
        --label "purple star" --label "red star" --label "purple circle" --label "yellow triangle" \
        --label "yellow square" --label "blue triangle" \
        "$fx/purple_star_0.png" "$fx/yellow_triangle_1.png" "$fx/red_star_0.png"
}

run_tests() {
    ensure_system_deps
    log "cargo fmt --check"
    cargo fmt --all -- --check
    log "cargo clippy (host)"
    cargo clippy --release --locked --workspace --all-targets -- -D warnings
    log "cargo clippy (wasm32-unknown-unknown, core crate: no wasm-hostile dependency may creep in)"
    cargo clippy --release --locked -p webclip -p webclip-wasm --target wasm32-unknown-unknown -- -D warnings
    log "cargo test --release"
    cargo test --release --locked --workspace
    build_web browser
    npm_ci tests/e2e
    npm_ci tests/vite # the Vite app that tests/e2e/vite.test.mjs installs the packed package into
    log "browser tests (headless Chromium: WebGPU through SwiftShader, and the CPU fallback)"
    (cd tests/e2e && npm test)
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

# The GPU benchmark (a machine with a hardware GPU; see README "Benchmarks"), one command:
# 1. per architecture (ViT-B/32, SigLIP B/16, SigLIP 2 B/16; random weights): native wgpu in f32
#    and f16 — first forward (shader compilation, autotuning) and warm latency, images/s at batch
#    1/8/32, texts/s at 32 — then PyTorch CUDA on the same shapes when torch sees a GPU;
# 2. load: random full-size ViT-B/32 and SigLIP B/16 folders (tests/reference/make_random.py)
#    written as f32, f16 and q8 files, each loaded by `webclip embed` on the GPU in f32 and f16
#    (q8 changes the file and the load, not the kernels: it is dequantised on load);
# 3. the browser half, where Chromium is installed: `bench-web --gpu` (tests/bench: WebGPU on the
#    hardware adapter, webclip from f32/f16/q8 files beside onnxruntime-web's webgpu EP).
# JSON goes to $BENCH_OUT (default bench-gpu/). On a machine without cargo (a lent GPU machine),
# WEBCLIP_BIN names a prebuilt CLI and BENCH_PYTHON a python with torch + transformers (default
# ~/.cache/refenv's); BENCH_ARCHS picks architectures. Measured on an H200: each webclip scenario
# is a fresh process whose first forward compiles and tunes its kernels (15-28 s there), so 1
# takes ~9 minutes for all three architectures; PyTorch ~1 minute per architecture.
bench_gpu() {
    local bin="${WEBCLIP_BIN:-}"
    if [ -z "$bin" ]; then
        build
        bin="$BIN"
    fi
    local out="${BENCH_OUT:-bench-gpu}" py="${BENCH_PYTHON:-$HOME/.cache/refenv/bin/python}" status=0 cuda=0
    mkdir -p "$out"
    "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && cuda=1
    for arch in ${BENCH_ARCHS:-vit-b32 siglip-b16 siglip2-b16}; do
        for p in f32 f16; do
            log "webclip --device gpu --precision $p bench --arch $arch"
            "$bin" --device gpu --precision "$p" bench --arch "$arch" --scenarios image1,image8,image32,text32 \
                --json >"$out/webclip-$arch-$p.json" || status=1
            cat "$out/webclip-$arch-$p.json"
        done
        for p in f32 f16; do
            [ $cuda = 1 ] || break
            log "PyTorch CUDA $arch $p"
            "$py" tests/reference/bench_torch.py --device cuda --dtype "$p" --arch "$arch" \
                --scenarios image1,image8,image32,text32 --json >"$out/torch-$arch-$p.json" || status=1
            cat "$out/torch-$arch-$p.json"
        done
    done
    [ $cuda = 1 ] || echo "(PyTorch CUDA skipped: $py has no CUDA torch, or no GPU it can see)" >&2
    if "$py" -c "import transformers" 2>/dev/null; then
        bench_load "$bin" "$py" "$out" || status=1
    else
        echo "(load benchmark skipped: $py has no transformers to write the random folders)" >&2
    fi
    if [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && command -v cargo >/dev/null; then
        WEBCLIP_BIN="$bin" bench_web --gpu --out "$PWD/$out/browser-gpu.json" || status=1
    else
        echo "(browser half skipped: needs Chromium and cargo for the wasm build)" >&2
    fi
    return $status
}

# Load time by file dtype: `webclip embed --text` on random full-size folders, one JSON line per
# (arch, file dtype, precision) in $out/load.jsonl: the CLI's own "loaded … in N s" (read, parse,
# dequantise, upload, cast) and the whole process (device start + load + one text forward).
bench_load() {
    local bin="$1" py="$2" out="$3" tmp
    tmp=$(mktemp -d)
    : >"$out/load.jsonl"
    for arch in vit-b32 siglip-b16; do
        log "load: random $arch folder, then f16 and q8 copies"
        "$py" tests/reference/make_random.py --arch "$arch" "$tmp/$arch-f32" >&2 || return 1
        for d in f16 q8; do
            "$bin" --quiet convert --model "$tmp/$arch-f32" --out "$tmp/$arch-$d" --dtype "$d" || return 1
        done
        for d in f32 f16 q8; do
            local mb
            mb=$(( $(stat -c %s "$tmp/$arch-$d/model.safetensors") / 1000000 ))
            for p in f32 f16; do
                cat "$tmp/$arch-$d/model.safetensors" >/dev/null # page cache warm, as on a second run
                local t0 t1 err secs
                t0=$(date +%s.%N)
                err=$("$bin" --device gpu --precision "$p" embed --model "$tmp/$arch-$d" --text "a photo" 2>&1 >/dev/null) || {
                    echo "$err" >&2
                    return 1
                }
                t1=$(date +%s.%N)
                secs=$(echo "$err" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p' | head -1)
                printf '{"arch":"%s","file":"%s","file_mb":%s,"precision":"%s","load_seconds":%s,"process_seconds":%s}\n' \
                    "$arch" "$d" "$mb" "$p" "${secs:-null}" "$(awk "BEGIN{print $t1 - $t0}")" |
                    tee -a "$out/load.jsonl"
            done
        done
        rm -rf "${tmp:?}/$arch-"*
    done
    rm -rf "$tmp"
}

# Browser benchmark against onnxruntime-web on the same weights (tests/bench/README.md). Needs the
# reference venv for the ONNX export (created by `./build.sh fixtures`).
bench_web() {
    build_web browser
    local py="$HOME/.cache/refenv/bin/python"
    if [ ! -x "$py" ]; then
        echo "bench-web needs ~/.cache/refenv (run ./build.sh fixtures once)" >&2
        exit 1
    fi
    "$py" tests/reference/export_onnx.py
    npm_ci tests/bench
    node tests/bench/run.mjs "$@"
}

fixtures() {
    local py="$HOME/.cache/refenv/bin/python"
    if [ ! -x "$py" ]; then
        log "creating ~/.cache/refenv (torch, transformers, Pillow, open_clip: several GB)"
        python3 -m venv "$HOME/.cache/refenv"
        "$HOME/.cache/refenv/bin/pip" install -q -r tests/reference/requirements.txt
    fi
    "$py" tests/reference/generate.py
    "$py" tests/reference/generate_siglip.py
}

cmd="${1:-build}"
[ $# -gt 0 ] && shift
case "$cmd" in
    build)
        build
        build_web
        ;;
    web) build_web ;;
    run)
        build_web
        serve
        ;;
    serve) serve ;;
    cli)
        build
        if [ $# -gt 0 ]; then exec "$BIN" "$@"; else demo; fi
        ;;
    test) run_tests ;;
    bench) bench "$@" ;;
    bench-web) bench_web "$@" ;;
    bench-gpu) bench_gpu ;;
    fixtures) fixtures ;;
    *)
        echo "usage: ./build.sh [build|run|serve|web|cli [ARGS]|test|bench|bench-gpu|bench-web|fixtures]" >&2
        exit 2
        ;;
esac
