# bench/local.mk — benchmarks (not built by default: `make bench`).
