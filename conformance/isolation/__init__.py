"""Where the implementation under test runs: a process of its own for every scenario.

`subject` is the judge's side; `template` is the per-run process that imports the implementation
once and forks a child per scenario; `child` runs the scenario's calls. Nothing the implementation
does (exit, hang, monkeypatch, threads, forks, floods) can reach the judge or the next scenario.
"""
