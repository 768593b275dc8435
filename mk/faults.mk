# Faults under load: bench/faults puts wrk load and a timing probe on the
# full gateway (2 workers, RS256, Redis limits) while its redis-server is
# killed, stopped (SIGSTOP), paused (CLIENT PAUSE) and shut down, and while
# nginx is reloaded; once with tenant_redis_failure allow, once with deny;
# then Redis over TLS (killed and stopped), a Sentinel failover, and a
# Redis Cluster (a master killed, a slot moved under load).
# Loopback only, about 100 s per policy; PASS or FAIL per check, and a
# non-zero exit on any FAIL.  Settings as environment variables, see the
# head of bench/faults (POLICIES=deny, BASE_PORT=..., ROUNDS=1, ...).
#
#   make faults                       the module in $(BUILD)
#   make faults BUILD=/tmp/b          another build of it

.PHONY: faults

faults: deps deps-bench $(MODULE)
	MODULE=$(MODULE) bench/faults
