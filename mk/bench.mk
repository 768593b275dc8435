# Benchmarks beyond `make bench`: instructions per request (callgrind, not
# disturbed by a noisy machine) and memory (RSS over a million requests).

.PHONY: bench-callgrind bench-rss

bench-callgrind: deps deps-bench $(MODULE)
	bench/callgrind

bench-rss: deps deps-bench $(MODULE)
	bench/rss
