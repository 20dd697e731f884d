"""The benchmark definitions of robustpose-bench (YAML), installed as the package data
`robustpose_bench.manifests` and found by name with `robustpose_bench.definitions`."""
