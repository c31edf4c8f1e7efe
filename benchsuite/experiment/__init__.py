"""One experiment from gin to record: `components.py` loads the suite's parts, `execute.py` parses gin and names
the run, `run.py` is the gin root that builds the run and writes its record, `ownership.py` keeps one process per
run folder."""
