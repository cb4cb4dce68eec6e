#!/usr/bin/env bash
# THE test command:   bash deploy/test.sh [extra dotnet test arguments, e.g. --filter "FullyQualifiedName~Contracts"]
#
#  1. installs missing system packages (deploy/install-deps.sh; only as root, else says what to run);
#  2. starts PostgreSQL, mosquitto and Redis (deploy/services.sh start all) and exports YOLOFLEET_PG / _MQTT / _REDIS;
#  3. builds the solution once (Debug), then runs `dotnet test --no-build` on it with TRX and console loggers;
#  4. sums the TRX files' <Counters> over the test projects and prints, alone on the last line,
#     `N passed, N failed` (plus `, N skipped` when some tests were not executed).
#
# Exit status: 0 only if the build succeeded, dotnet test succeeded, at least one test ran and none failed.
# A test host that crashed or hung (its TRX says the run failed but counts no failed test) or a test project
# that left no TRX at all counts as one failed test each.
#
# Environment: YOLOFLEET_CONFIGURATION [Debug]; YOLOFLEET_SOLUTION [YoloFleet.sln];
#   YOLOFLEET_TEST_RESULTS [TestResults/deploy-test] (each run gets a new sub-directory);
#   YOLOFLEET_TEST_HANG_TIMEOUT [15m] (a test running longer kills its test host; "off" disables);
#   YOLOFLEET_KEEP_SERVICES=1 leaves services running that this script started (by default it stops them
#   again; services that were already running are always left running);
#   plus deploy/services.sh's YOLOFLEET_STATE_DIR, YOLOFLEET_PG_PORT, YOLOFLEET_MQTT_PORT.
set -euo pipefail

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Plain, line-oriented MSBuild output (the terminal logger rewrites lines, which hides test output in logs).
export MSBUILDTERMINALLOGGER=off

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

SOLUTION=${YOLOFLEET_SOLUTION:-YoloFleet.sln}
CONFIGURATION=${YOLOFLEET_CONFIGURATION:-Debug}
HANG_TIMEOUT=${YOLOFLEET_TEST_HANG_TIMEOUT:-15m}
RESULTS_BASE=${YOLOFLEET_TEST_RESULTS:-$REPO_ROOT/TestResults/deploy-test}
SERVICES=$REPO_ROOT/deploy/services.sh

say() { echo "test.sh: $*"; }

# Services this script started; stopped again before the summary line (which must stay the last line).
started=()
stop_started_services() {
    local svc
    ((${#started[@]})) || return 0
    if [[ ${YOLOFLEET_KEEP_SERVICES:-0} == 1 ]]; then
        say "leaving ${started[*]} running (stop with: deploy/services.sh stop)"
    else
        for svc in "${started[@]}"; do
            "$SERVICES" stop "$svc" || true
        done
    fi
    started=()
}
trap stop_started_services EXIT

summary_and_exit() { # passed failed skipped status
    local line="$1 passed, $2 failed"
    if (($3 > 0)); then line+=", $3 skipped"; fi
    stop_started_services
    trap - EXIT
    echo "$line"
    exit "$4"
}

command -v dotnet >/dev/null || {
    say "dotnet not found on PATH (the .NET 10 SDK is required)"
    summary_and_exit 0 0 0 1
}
[[ -f $SOLUTION ]] || {
    say "solution $SOLUTION not found (run from the repository, or set YOLOFLEET_SOLUTION)"
    summary_and_exit 0 0 0 1
}

# ------------------------------------------------------------------------------------------ 1. dependencies
if ! bash "$REPO_ROOT/deploy/install-deps.sh" --check 2>/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        say "installing missing system packages"
        bash "$REPO_ROOT/deploy/install-deps.sh" || {
            say "deploy/install-deps.sh failed"
            summary_and_exit 0 0 0 1
        }
    else
        bash "$REPO_ROOT/deploy/install-deps.sh" --check || true
        say "system packages are missing; run: sudo bash deploy/install-deps.sh"
        summary_and_exit 0 0 0 1
    fi
fi

# ---------------------------------------------------------------------------------------------- 2. services
for svc in postgres mosquitto redis; do
    if ! "$SERVICES" status "$svc" >/dev/null 2>&1; then
        started+=("$svc")
    fi
done
"$SERVICES" start all || {
    say "services failed to start (see above); no tests were run"
    summary_and_exit 0 0 0 1
}
eval "$("$SERVICES" env)"
export YOLOFLEET_PG YOLOFLEET_MQTT YOLOFLEET_REDIS
say "YOLOFLEET_PG=$YOLOFLEET_PG"
say "YOLOFLEET_MQTT=$YOLOFLEET_MQTT"
say "YOLOFLEET_REDIS=$YOLOFLEET_REDIS"

# ------------------------------------------------------------------------------------------------- 3. build
say "dotnet build $SOLUTION -c $CONFIGURATION"
if ! dotnet build "$SOLUTION" -c "$CONFIGURATION" -nologo; then
    say "BUILD FAILED: no tests were run"
    summary_and_exit 0 0 0 1
fi

# -------------------------------------------------------------------------------------------------- 4. test
mkdir -p "$RESULTS_BASE"
RESULTS_DIR=$RESULTS_BASE/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$RESULTS_DIR"
if [[ -z ${YOLOFLEET_TEST_RESULTS:-} ]]; then
    # Our own default directory: keep the last five runs.
    find "$RESULTS_BASE" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*-[0-9]*-[0-9]*' -printf '%f\n' |
        sort -r | tail -n +6 | while read -r old; do rm -rf "${RESULTS_BASE:?}/$old"; done
fi

test_args=(test "$SOLUTION" --no-build -c "$CONFIGURATION" --results-directory "$RESULTS_DIR"
    --logger "trx;LogFilePrefix=yolofleet" --logger "console;verbosity=normal")
if [[ $HANG_TIMEOUT != off && $HANG_TIMEOUT != 0 ]]; then
    test_args+=(--blame-hang-timeout "$HANG_TIMEOUT" --blame-hang-dump-type none)
fi
say "dotnet ${test_args[*]} $*"
test_rc=0
dotnet "${test_args[@]}" "$@" || test_rc=$?

# ---------------------------------------------------------------------------------------- 5. parse the TRX
# The test projects of the solution: each should leave exactly one TRX (even one whose tests are all filtered
# out leaves one with total="0").
expected=0
sln_dir=$(dirname -- "$SOLUTION")
while IFS= read -r proj; do
    proj=$sln_dir/${proj//\\//}
    [[ $proj == *.csproj && -f $proj ]] || continue
    if grep -qE '<IsTestProject>[[:space:]]*true|Include="Microsoft\.NET\.Test\.Sdk"' "$proj"; then
        expected=$((expected + 1))
    fi
done < <(dotnet sln "$SOLUTION" list 2>/dev/null || true)

counter() { # attribute-name counters-element
    local v
    v=$(sed -n "s/.*[[:space:]]$1=\"\([0-9]*\)\".*/\1/p" <<<"$2")
    echo "${v:-0}"
}

passed=0 failed=0 skipped=0 executed=0 trx_count=0 broken_runs=0
shopt -s nullglob
for trx in "$RESULTS_DIR"/*.trx; do
    trx_count=$((trx_count + 1))
    flat=$(tr '\n\r' '  ' <"$trx")
    counters=$(grep -o '<Counters [^>]*>' <<<"$flat" | head -n 1 || true)
    outcome=$(grep -o '<ResultSummary [^>]*outcome="[^"]*"' <<<"$flat" | sed 's/.*outcome="\([^"]*\)"/\1/' | head -n 1 || true)
    name=$(grep -o 'Discovering: [^[:space:]<]*' <<<"$flat" | head -n 1 | sed 's/Discovering: //' || true)
    name=${name:-$(basename "$trx")}
    if [[ -z $counters ]]; then
        say "$name: $(basename "$trx") has no <Counters>; counting the run as 1 failure"
        broken_runs=$((broken_runs + 1))
        continue
    fi
    t=$(counter total "$counters")
    e=$(counter executed "$counters")
    p=$(counter passed "$counters")
    f=$(($(counter failed "$counters") + $(counter error "$counters") + $(counter timeout "$counters") + $(counter aborted "$counters")))
    passed=$((passed + p))
    failed=$((failed + f))
    executed=$((executed + e))
    if ((t > e)); then skipped=$((skipped + t - e)); fi
    # VSTest marks a run whose test host crashed or was killed for hanging with outcome="Failed" (or
    # "Aborted"/"Error") while counting no failed test, and drops the tests it had not reported.
    case $outcome in
        Completed | Passed | Warning) ;;
        *)
            if ((f == 0)); then
                say "$name: run outcome '${outcome:-missing}' with no failed test: test host crashed, hung or aborted; counting it as 1 failure ($(basename "$trx"))"
                broken_runs=$((broken_runs + 1))
            fi
            ;;
    esac
done

if ((expected > trx_count)); then
    say "expected $expected TRX files (one per test project) but found $trx_count in $RESULTS_DIR: counting each missing one as 1 failure"
    broken_runs=$((broken_runs + expected - trx_count))
fi
failed=$((failed + broken_runs))

say "results: $RESULTS_DIR ($trx_count TRX files, $expected test projects, dotnet test exit code $test_rc)"
status=0
if ((test_rc != 0)); then
    say "dotnet test failed (exit code $test_rc)"
    status=1
fi
if ((executed == 0 && broken_runs == 0)); then
    say "no test ran"
    status=1
fi
((failed == 0)) || status=1
summary_and_exit "$passed" "$failed" "$skipped" "$status"
