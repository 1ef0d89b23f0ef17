"""Development tools: a real Home Assistant process with the integration, for develop mode and benchmarks."""
