#!/usr/bin/env bash
# The main job, end to end on the embedded default: install what is missing,
# build, start the agent, create an emulated USB token, generate a key on it,
# make its certificate, and sign real documents through the PKCS#11 module
# with real applications (OpenSSL CMS through the libp11 engine, and pdfsig
# through NSS), verifying every signature.
#
# Everything lives under build/demo (XDG dirs), so your own tokens are never
# touched. Run it again at any time: it starts from a clean demo directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
scripts/build.sh build

scripts/main-job.sh "$root/build" "$root/build/demo"
