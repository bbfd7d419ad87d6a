"""The client that connects exactly as told: used by the reference and by `plan`."""
