"""llm-core's benchmark suite: hot paths beside their peers, as ratios measured in one run."""
