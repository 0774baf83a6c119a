#!/usr/bin/env bash
# Builds and runs libFuzzer targets.
#
#   scripts/fuzz.sh [--seconds N] [name...]     (default: 60 seconds, every Fuzz/*/ target)
#
# Convention, per target Fuzz/<name>/:
#   fuzz.swift   defines @_cdecl("LLVMFuzzerTestOneInput") public func fuzzTest(_:_:) -> CInt
#   build.conf   shell-sourceable: MODULE_DIRS (source dirs compiled into the same module as
#                fuzz.swift, so internal API is visible and no import is needed), MODULE_NAME,
#                EXTRA_FLAGS (e.g. "-I Sources/CZlib -lz"), optional DEPENDENCIES
#                ("Name=dir[,dir] ...": modules those sources `import`, built first as
#                instrumented static libraries)
#   corpus/      small committed seed corpus; the fuzzer runs on a copy in .build-fuzz/<name>/
#   dict         optional libFuzzer dictionary
# Exits non-zero if any target fails to build or libFuzzer reports a crash; crashing
# inputs are printed (they live in .build-fuzz/<name>/artifacts/).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Swift runtime backtracer would intercept the trap before ASan/libFuzzer report it.
export SWIFT_BACKTRACE=enable=no

seconds=60
names=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
        --seconds=*) seconds="${1#--seconds=}"; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) names+=("$1"); shift ;;
    esac
done
if [[ ${#names[@]} -eq 0 ]]; then
    for dir in Fuzz/*/; do [[ -f "$dir/fuzz.swift" ]] && names+=("$(basename "$dir")"); done
fi
[[ ${#names[@]} -gt 0 ]] || { echo "no fuzz targets found under Fuzz/" >&2; exit 2; }

status=0
for name in "${names[@]}"; do
    src="Fuzz/$name"
    [[ -f "$src/fuzz.swift" && -f "$src/build.conf" ]] || { echo "$name: missing $src/fuzz.swift or build.conf" >&2; status=1; continue; }
    MODULE_DIRS=""; MODULE_NAME="$name"; EXTRA_FLAGS=""; DEPENDENCIES=""
    # shellcheck disable=SC1090
    source "$src/build.conf"

    out=".build-fuzz/$name"
    mkdir -p "$out/deps"
    flags=(-sanitize=fuzzer,address -parse-as-library -O)
    dep_flags=(-I "$out/deps" -L "$out/deps")
    dep_failed=0
    for dep in $DEPENDENCIES; do
        dep_name="${dep%%=*}"
        dep_sources=()
        IFS=',' read -r -a dep_dirs <<< "${dep#*=}"
        for d in "${dep_dirs[@]}"; do
            while IFS= read -r f; do dep_sources+=("$f"); done < <(find "$d" -name '*.swift' | sort)
        done
        echo "== $name: building dependency $dep_name (${#dep_sources[@]} files)"
        # shellcheck disable=SC2086
        if ! swiftc "${flags[@]}" -module-name "$dep_name" -emit-module -emit-module-path "$out/deps/$dep_name.swiftmodule" \
                -emit-library -static -o "$out/deps/lib$dep_name.a" "${dep_flags[@]}" $EXTRA_FLAGS \
                "${dep_sources[@]}" 2> "$out/build-$dep_name.log"; then
            grep -v 'ld.gold: warning' "$out/build-$dep_name.log" >&2 || true
            dep_failed=1; break
        fi
        dep_flags+=("-l$dep_name")
    done
    if [[ $dep_failed -ne 0 ]]; then echo "$name: dependency build failed" >&2; status=1; continue; fi
    sources=()
    for d in $MODULE_DIRS; do
        while IFS= read -r f; do sources+=("$f"); done < <(find "$d" -name '*.swift' | sort)
    done
    sources+=("$src/fuzz.swift")

    echo "== $name: building (${#sources[@]} files)"
    # shellcheck disable=SC2086  # EXTRA_FLAGS is a list of flags
    if ! swiftc "${flags[@]}" -module-name "$MODULE_NAME" "${dep_flags[@]}" \
            $EXTRA_FLAGS "${sources[@]}" -o "$out/fuzzer" 2> "$out/build.log"; then
        grep -v 'ld.gold: warning' "$out/build.log" >&2 || true
        echo "$name: build failed" >&2; status=1; continue
    fi

    # Fresh copy of the seeds: libFuzzer adds new inputs to the corpus directory it is given.
    rm -rf "$out/corpus" "$out/artifacts"
    mkdir -p "$out/corpus" "$out/artifacts"
    if [[ -d "$src/corpus" ]]; then cp -R "$src/corpus/." "$out/corpus/"; fi
    dict=()
    if [[ -f "$src/dict" ]]; then dict=("-dict=$src/dict"); fi

    echo "== $name: fuzzing for ${seconds}s (log: $out/fuzz.log)"
    if "$out/fuzzer" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$out/artifacts/" "${dict[@]}" "$out/corpus" > "$out/fuzz.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$out/fuzz.log" | tail -2 || true
        echo "== $name: no crash ($(find "$out/corpus" -type f | wc -l) corpus inputs)"
    else
        status=1
        grep -E 'ERROR: |Fatal error|Precondition failed|SUMMARY' "$out/fuzz.log" | head -5 >&2 || true
        echo "$name: libFuzzer reported a failure; crashing input(s):" >&2
        find "$out/artifacts" -type f -printf '  %p\n' >&2
        echo "  reproduce: $out/fuzzer <input>" >&2
    fi
done
exit $status
