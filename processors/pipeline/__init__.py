"""The reference pipeline: the handlers ``config/streams.yaml`` names for its streams."""
