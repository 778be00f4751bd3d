/// Shared helpers for tests: tolerances, temporary files, tiny volumes.
