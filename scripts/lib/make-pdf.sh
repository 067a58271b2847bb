#!/usr/bin/env bash
# make-pdf.sh OUT.pdf "text": writes a small, valid one-page PDF (with a
# correct cross-reference table) so tests need no document generator.
set -euo pipefail
out=$1
text=${2:-"vtoken test document"}
text=${text//\\/\\\\}; text=${text//(/\\(}; text=${text//)/\\)}
stream="BT /F1 18 Tf 72 720 Td (${text}) Tj ET"
objs=(
  "<< /Type /Catalog /Pages 2 0 R >>"
  "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
  "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
  "<< /Length ${#stream} >>
stream
${stream}
endstream"
  "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
)
{
  body="%PDF-1.7"$'\n'
  offsets=()
  for i in "${!objs[@]}"; do
    offsets+=("${#body}")
    body+="$((i + 1)) 0 obj"$'\n'"${objs[$i]}"$'\n'"endobj"$'\n'
  done
  xref=${#body}
  printf '%s' "$body"
  printf 'xref\n0 %d\n0000000000 65535 f \n' $((${#objs[@]} + 1))
  for o in "${offsets[@]}"; do printf '%010d 00000 n \n' "$o"; done
  printf 'trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' $((${#objs[@]} + 1)) "$xref"
} > "$out"
