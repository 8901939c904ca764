"""Watching the pipeline: topics read as their consumers read them, consumer lag and group
membership, sampled over time and plotted."""
