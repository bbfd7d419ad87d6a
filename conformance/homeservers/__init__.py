"""Whole homeservers as the implementation under test: profiles (data), the process in its
sandbox, and the subject that triggers one federation request per fetch."""
