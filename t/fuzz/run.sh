#!/bin/sh
# Runs the fuzzers of `make fuzz`, one after the other, each for a bounded
# time from its seeds, and sums up. Exits 1 when any of them crashed, found
# a failed property, a leak or a hang, or did not run at all.
#
#   sh t/fuzz/run.sh SECONDS NAME...
#
# NAME's binary is t/unit/fuzz_NAME, its seeds t/fuzz/corpus/NAME/ (read
# only), its dictionary t/fuzz/dict/NAME.dict when there is one. Its log, the
# inputs it found new coverage with (corpus/) and what it found (crash-*,
# leak-*, timeout-*, oom-*) go to t/fuzz/out/NAME/, which is not committed.
# A finding is replayed with: t/unit/fuzz_NAME t/fuzz/out/NAME/crash-...
set -u

if [ $# -lt 2 ]; then
	echo "usage: sh t/fuzz/run.sh SECONDS NAME..." >&2
	exit 2
fi
secs=$1
shift

# The longest input: room for the cache's 4096-byte strings in an entry.
max_len() {
	case "$1" in
	cache) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

# A value of -print_final_stats, or "?" when the run ended without them.
stat() {
	v=$(sed -n "s/^stat::$1: *//p" "$2" | tail -n 1)
	echo "${v:-?}"
}

# "cov N ft M" of the last status line libFuzzer printed.
coverage() {
	v=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$1" | tail -n 1 |
		sed 's/cov: \([0-9]*\) ft: \([0-9]*\)/cov \1 ft \2/')
	echo "${v:-cov ? ft ?}"
}

# Runs one fuzzer; prints its line; returns non-zero when it found something.
run_one() {
	name=$1
	bin=t/unit/fuzz_$name
	seeds=t/fuzz/corpus/$name
	out=t/fuzz/out/$name
	dict=t/fuzz/dict/$name.dict

	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		printf '%-7s FAILED  %s or %s is missing\n' "$name" "$bin" "$seeds"
		return 1
	fi
	mkdir -p "$out/corpus"
	rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
		"$out"/slow-unit-*
	dict_opt=
	[ -f "$dict" ] && dict_opt=-dict=$dict
	# -timeout: one input taking 10 s is a hang, not a slow machine
	"$bin" -max_total_time="$secs" -print_final_stats=1 \
		-max_len="$(max_len "$name")" -timeout=10 \
		-artifact_prefix="$out/" $dict_opt "$out/corpus" "$seeds" \
		>"$out/log" 2>&1
	rc=$?
	found=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
		2>/dev/null | tr '\n' ' ')
	runs=$(stat number_of_executed_units "$out/log")
	new=$(stat new_units_added "$out/log")
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		printf '%-7s ok      %s runs, %s, %s new inputs, nothing found\n' \
			"$name" "$runs" "$(coverage "$out/log")" "$new"
		return 0
	fi
	printf '%-7s FAILED  %s runs, %s, exit %s, found: %s(log: %s)\n' \
		"$name" "$runs" "$(coverage "$out/log")" "$rc" "${found:-nothing }" \
		"$out/log"
	# the sanitizer's or libFuzzer's report: what failed and where
	grep -m 1 -A 24 -E '^==[0-9]+==|ERROR: libFuzzer|runtime error' \
		"$out/log" | sed 's/^/    /'
	return 1
}

passed=0
failed=0
for name in "$@"; do
	if run_one "$name"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
