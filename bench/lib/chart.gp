# bench/results.png: per configuration, throughput and gateway worker CPU
# per request, each as a ratio to plain proxy in the same run (medians).
#
#   gnuplot -e "datafile='chart.tsv'; outfile='results.png'; subtitle='...'" chart.gp
#
# chart.tsv comes from "report.pl --chart-data raw.tsv": issue number,
# config, label, req/s ratio, CPU ratio.

if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1200,640 font "DejaVu Sans,10" noenhanced
set output outfile
set datafile separator "\t"
set title "Gateway cost against plain proxy_pass (ratio to plain proxy, same run)\n".subtitle
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "ratio to plain proxy (1.00 = plain proxy)"
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set xtics rotate by 25 right nomirror
set key top left
set lmargin 9
set rmargin 3
set bmargin 8
stats datafile using 4 nooutput
set xrange [-0.6:STATS_records - 0.4]

# the plain proxy's level
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#444444" front

plot datafile using 4:xtic(3) title "throughput (req/s)" lc rgb "#3874b0", \
     ''       using 5 title "gateway worker CPU per request" lc rgb "#e07b26", \
     ''       using ($0 - 0.2):($4):(sprintf("%.2f", $4)) with labels offset 0,0.7 font ",8" notitle, \
     ''       using ($0 + 0.2):($5):(sprintf("%.2f", $5)) with labels offset 0,0.7 font ",8" notitle
