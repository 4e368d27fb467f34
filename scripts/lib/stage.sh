# Shared by the device scripts: a time budget, stages with their own limit and log, a summary.
# The caller sets OUT (results folder), WORK (scratch, with WORK/logs) and BUDGET (seconds).
#
#   summary TEXT...          append a line to OUT/summary.txt (and print it)
#   stage NAME SECONDS CMD   run CMD with a time limit cut to what is left of the budget, log to
#                            WORK/logs/NAME.log, record exit status and wall time in the summary
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
DEADLINE=$((SECONDS + ${BUDGET:-530}))
stage() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    summary "$(printf '%-22s skipped: budget spent' "$name")"
    return 124
  fi
  local t0=$SECONDS
  timeout "$limit" "$@" >"$WORK/logs/$name.log" 2>&1
  local rc=$?
  summary "$(printf '%-22s exit %-3s %4ss  %s' "$name" "$rc" "$((SECONDS - t0))" "$*")"
  return $rc
}

# Vulkan on a device machine: if no NVIDIA adapter is listed, point the loader at the driver.
find_nvidia() {
  local bin=$1
  if ! "$bin" info 2>&1 | grep -qi nvidia && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    summary "no NVIDIA adapter listed: using VK_DRIVER_FILES=$VK_DRIVER_FILES"
  fi
}
