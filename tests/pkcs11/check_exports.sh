#!/bin/sh
# Fails unless the module's dynamic symbol table defines exactly C_GetFunctionList.
set -eu
module="$1"
exported=$(nm -D --defined-only "$module" | awk '{print $3}' | sort)
if [ "$exported" != "C_GetFunctionList" ]; then
  echo "unexpected exported symbols in $module:" >&2
  echo "$exported" >&2
  exit 1
fi
echo "ok: $module exports only C_GetFunctionList"
