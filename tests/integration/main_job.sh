#!/usr/bin/env bash
# The README's main job, as a test: the cloud token (signing service, demo
# account, vtoken login, pdfsig through NSS, vtoken sign + openssl cms) and
# the emulated token (keygen, certificate, CMS and PDF signatures), each
# signature verified.
source "$(dirname "$0")/lib.sh"
check "main job: cloud token (login, pdfsig, vtoken sign) and emulated token (keygen, certificate, CMS, pdfsig), all verified" \
  "$repo/scripts/main-job.sh" "$build" "$scratch/main-job"
finish
