"""Tools for tests and benchmarks: throwaway database servers and data helpers."""
