# app_setup MODULE; app COMMAND...: runs a third-party application that will
# load MODULE. When MODULE is built with AddressSanitizer, the application is
# not, so the ASan/UBSan runtimes must be preloaded; leak checking is left to
# our own (instrumented) processes, since the applications leak by design.
app_preload=""
app_setup() {
  local module=$1 lib
  app_preload=""
  for lib in libasan libubsan; do
    local path
    path=$(ldd "$module" 2>/dev/null | awk -v l="$lib" '$1 ~ "^"l"\\.so" {print $3}')
    [ -n "$path" ] && app_preload="${app_preload:+$app_preload:}$path"
  done
  return 0
}
app() {
  if [ -n "$app_preload" ]; then
    LD_PRELOAD="$app_preload" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$@"
  else
    "$@"
  fi
}
