#!/usr/bin/env bash
# The README's main job, as a test: token, key, certificate, CMS and PDF
# signatures through the module, each verified.
source "$(dirname "$0")/lib.sh"
check "main job: create token, keygen, certificate, CMS + pdfsig signatures verified" \
  "$repo/scripts/main-job.sh" "$build" "$scratch/main-job"
finish
