#!/bin/sh
# Charts for one samsa-bench run: one PNG per workload from RESULTS_DIR/results.csv,
# records/s (log scale) of every system and cell, as horizontal bars.
# Usage: sh benchmarks/plot.sh RESULTS_DIR    (needs gnuplot, e.g. apt-get install gnuplot-nox)
set -eu
dir=${1:?usage: plot.sh RESULTS_DIR}
csv="$dir/results.csv"
command -v gnuplot >/dev/null 2>&1 || {
  echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 1
}
# The configuration column is the only quoted one; drop it so commas split the rest.
workloads=$(tail -n +2 "$csv" | cut -d, -f1 | sort -u)
for w in $workloads; do
  dat="$dir/$w.dat"
  tail -n +2 "$csv" | sed 's/"[^"]*"//' | awk -F, -v w="$w" '$1 == w && $12 > 0 {
      printf "\"%s %sB x%s %s %s %sw\" %s\n", $2, $4, $5, $6, $7, $8, $12 }' > "$dat"
  n=$(wc -l < "$dat")
  [ "$n" -gt 0 ] || { rm -f "$dat"; continue; }
  height=$((160 + 16 * n))
  gnuplot <<GP
set terminal pngcairo size 1100,$height font "sans,9"
set output "$dir/$w.png"
set title "samsa-bench: $w (records/s, log scale; label: system value x batch compression durability writers)"
set logscale x
set xrange [1e3:*]
set grid x
set yrange [-0.6:$n - 0.4]
set ytics nomirror
set style fill solid 0.7
unset key
plot "$dat" using (1e3):0:(1e3):2:(\$0 - 0.4):(\$0 + 0.4):yticlabels(1) with boxxyerror lc rgb "#4477aa", \
     "" using 2:0:(sprintf("%.3g", \$2)) with labels left offset 0.5,0 font "sans,8"
GP
  rm -f "$dat"
  echo "chart: $dir/$w.png"
done
