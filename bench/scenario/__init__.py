"""The scenario: meters to orders, one market interval at a time, run by a worker."""
