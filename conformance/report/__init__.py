"""What a run tells people: the JSON report and the run summaries."""
