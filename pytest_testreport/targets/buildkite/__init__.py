"""The buildkite target."""
