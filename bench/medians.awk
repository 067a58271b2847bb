# The median of each numeric column, per row name, of markdown table rows
# ("| name | 1 | 2 | ... |"), one output row per name in the order first seen:
# "| name (median of K) | ... |". For an even K, the lower of the two middle
# values. Used by run.sh and run-cloud.sh on their rounds.
#   awk -v first=3 -v last=10 [-v last_decimals=1] -f bench/medians.awk ROWS
# first, last: the '|'-separated fields that hold numbers ($2 is the name);
# last_decimals: decimals printed for the last column (default 0).
BEGIN { FS = "|" }
{
  name = $2
  gsub(/^ +| +$/, "", name)
  if (!(name in n)) order[++names] = name
  n[name]++
  for (c = first; c <= last; c++) v[name, c, n[name]] = $c + 0
}
END {
  for (r = 1; r <= names; r++) {
    name = order[r]
    k = n[name]
    printf "| %s (median of %d) |", name, k
    for (c = first; c <= last; c++) {
      for (i = 1; i <= k; i++) a[i] = v[name, c, i]
      for (i = 2; i <= k; i++) {  # insertion sort: k is a handful of rounds
        x = a[i]
        for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
        a[j + 1] = x
      }
      printf(" %." (c == last ? last_decimals + 0 : 0) "f |", a[int((k + 1) / 2)])
    }
    printf "\n"
  }
}
