"""The audio half of a live call: speech engines behind small protocols, and the pipeline."""
